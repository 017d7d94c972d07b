/*
 * FULLY_CONNECTED, Helium (MVE) variant: four output rows per pass over each batch row,
 * VMLADAVA summing sixteen int8 products per instruction; the input vector is loaded once
 * per four rows (its last vector zero-filled past the end by a tail predicate), the
 * weight rows are padded with zeros to whole vectors ("packed16", as the Helium
 * convolutions read them) and the bias is folded (bias + input_offset * sum of the row's
 * weights). Needs filter_offset 0 (symmetric weights); any multiplier and shift; no
 * scratch. Same bytes as ekd_fully_connected_s8.
 */
#include "edgekd/ekd.h"

#if EKD_HAVE_MVE

#include "ekd_mve_conv.h"
#include "ekd_validate.h"

/* Rows oc .. oc + count - 1 (count 1..4) of one batch row; `right_only` is a constant
 * after inlining. */
static inline __attribute__((always_inline)) void ekd_fc_mve_rows(
    const ekd_mve_output_stage *s, const int8_t *x, int32_t depth, const int8_t *filter,
    int32_t oc, int32_t count, int8_t *out, const int right_only)
{
    const int32_t stride = ekd_mve_depth16(depth);
    const int8_t *w0 = filter + (size_t)oc * stride;
    const int8_t *w1 = count > 1 ? w0 + stride : w0;
    const int8_t *w2 = count > 2 ? w0 + 2 * stride : w0;
    const int8_t *w3 = count > 3 ? w0 + 3 * stride : w0;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int32_t k;
    for (k = 0; k < depth; k += 16) {
        const int8x16_t xv = vldrbq_z_s8(x + k, vctp8q((uint32_t)(depth - k)));
        a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w0 + k));
        a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w1 + k));
        a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w2 + k));
        a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w3 + k));
    }
    ekd_mve_store4(s, a0, a1, a2, a3, oc, out, vctp32q((uint32_t)count), right_only);
}

static __attribute__((noinline)) EKD_MVE_NO_SCHEDULE void ekd_fc_mve_batch(
    const ekd_mve_output_stage *s, const int8_t *x, int32_t depth, const int8_t *filter,
    int32_t rows, int8_t *out)
{
    int32_t oc;
    for (oc = 0; oc < rows; oc += 4) {
        const int32_t count = rows - oc < 4 ? rows - oc : 4;
        if (s->right_only) {
            ekd_fc_mve_rows(s, x, depth, filter, oc, count, out, 1);
        } else {
            ekd_fc_mve_rows(s, x, depth, filter, oc, count, out, 0);
        }
    }
}

ekd_status ekd_fully_connected_s8_mve(const ekd_fc_params *params,
                                      const ekd_per_channel_quant *quant,
                                      const ekd_dims *input_dims, const int8_t *input,
                                      const ekd_dims *filter_dims, const int8_t *filter,
                                      const int32_t *folded_bias,
                                      const ekd_dims *output_dims, int8_t *output)
{
    ekd_mve_output_stage stage;
    int32_t batch, batches, depth, rows;
    ekd_status status;

    status = ekd_validate_fc(params, quant, input_dims, input, filter_dims, filter,
                             output_dims, output, &batches);
    if (status != EKD_OK) {
        return status;
    }
    if (folded_bias == NULL || params->filter_offset != 0) {
        return EKD_ERROR_ARGUMENT;
    }
    depth = filter_dims->c;
    rows = output_dims->c;
    stage = ekd_mve_output_stage_make(quant, folded_bias, rows, params->output_offset,
                                      params->activation_min, params->activation_max);
    for (batch = 0; batch < batches; ++batch) {
        ekd_fc_mve_batch(&stage, input + (size_t)batch * depth, depth, filter, rows,
                         output + (size_t)batch * rows);
    }
    return EKD_OK;
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int ekd_fully_connected_s8_mve_not_built;

#endif /* EKD_HAVE_MVE */
