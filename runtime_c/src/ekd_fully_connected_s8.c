/*
 * FULLY_CONNECTED, int8 activations and weights, int32 bias.
 * Bit-exact with TFLM's reference_integer_ops::FullyConnectedPerChannel and, for a
 * per-tensor multiplier repeated per output, reference_integer_ops::FullyConnected
 * (which also applies the weights offset, 0 for symmetric weights).
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_validate.h"

ekd_status ekd_fully_connected_s8(const ekd_fc_params *params,
                                  const ekd_per_channel_quant *quant,
                                  const ekd_dims *input_dims, const int8_t *input,
                                  const ekd_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias,
                                  const ekd_dims *output_dims, int8_t *output)
{
    int32_t batch, out_c, batches, accum_depth, out_depth, input_offset, filter_offset;
    ekd_status status;

    status = ekd_validate_fc(params, quant, input_dims, input, filter_dims, filter,
                             output_dims, output, &batches);
    if (status != EKD_OK) {
        return status;
    }
    accum_depth = filter_dims->c;
    out_depth = output_dims->c;

    /* Local copies: stores through the int8_t output may alias *params as far as the
     * compiler knows, which would force a reload per value. */
    input_offset = params->input_offset;
    filter_offset = params->filter_offset;
    for (batch = 0; batch < batches; ++batch) {
        const int8_t *x = input + (size_t)batch * accum_depth;
        for (out_c = 0; out_c < out_depth; ++out_c) {
            const int8_t *w = filter + (size_t)out_c * accum_depth;
            int32_t acc = 0;
            int32_t d;
            for (d = 0; d < accum_depth; ++d) {
                acc = ekd_wrapping_add_s32(
                    acc, (w[d] + filter_offset) * (x[d] + input_offset));
            }
            if (bias != NULL) {
                acc = ekd_wrapping_add_s32(acc, bias[out_c]);
            }
            acc = ekd_multiply_by_quantized_multiplier(acc, quant->multiplier[out_c],
                                                       quant->shift[out_c]);
            acc = ekd_wrapping_add_s32(acc, params->output_offset);
            acc = ekd_clamp_s32(acc, params->activation_min, params->activation_max);
            output[(size_t)batch * out_depth + out_c] = (int8_t)acc;
        }
    }
    return EKD_OK;
}
