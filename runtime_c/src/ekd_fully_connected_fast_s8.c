/*
 * FULLY_CONNECTED, optimized: the same bytes as ekd_fully_connected_s8 for symmetric
 * weights (filter_offset 0) and the fast requantization's multipliers and accumulator
 * bound. Each batch row goes through ekd_nn_vec_mat_s8 (ekd_fully_connected_fast.h):
 * four output rows per pass over the input, weights packed "rows4", the bias folded.
 * No scratch; the input may be read while nothing is written over it (the output never
 * overlaps the input).
 *
 * This file also holds the portable ekd_nn_vec_mat_s8 (Cortex-M0/M3, RISC-V, the host);
 * ekd_fully_connected_fast_s8_dsp.c has the Arm DSP one.
 */
#include "edgekd/ekd.h"
#include "ekd_dsp.h"
#include "ekd_fully_connected_fast.h"
#include "ekd_validate.h"

#if !EKD_ARM_DSP
void ekd_nn_vec_mat_s8(const int8_t *x, int32_t depth, const int8_t *weights, int32_t rows,
                       const ekd_nn_output_params *params, int8_t *out)
{
    const int32_t groups = (depth + 3) / 4, full = depth / 4;
    const int8_t *wp = weights;
    int32_t r;
    for (r = 0; r < rows; r += 4) {
        int32_t acc[4];
        int32_t g, i;
        for (i = 0; i < 4; ++i) {
            acc[i] = r + i < rows ? params->bias[r + i] : 0;
        }
        for (g = 0; g < full; ++g, wp += 16) {
            const int32_t x0 = x[4 * g], x1 = x[4 * g + 1], x2 = x[4 * g + 2],
                          x3 = x[4 * g + 3];
            for (i = 0; i < 4; ++i) {
                const int8_t *w = wp + 4 * i;
                acc[i] += w[0] * x0 + w[1] * x1 + w[2] * x2 + w[3] * x3;
            }
        }
        if (groups > full) {
            for (i = 0; i < 4; ++i) {
                int32_t k;
                for (k = 0; k < depth - 4 * full; ++k) {
                    acc[i] += wp[4 * i + k] * x[4 * full + k];
                }
            }
            wp += 16;
        }
        ekd_fc_store4(params, r, rows, acc, out);
    }
}
#endif /* !EKD_ARM_DSP */

ekd_status ekd_fully_connected_fast_s8(const ekd_fc_params *params,
                                       const ekd_per_channel_quant *quant,
                                       const ekd_dims *input_dims, const int8_t *input,
                                       const ekd_dims *filter_dims, const int8_t *filter,
                                       const int32_t *bias,
                                       const ekd_dims *output_dims, int8_t *output)
{
    int32_t batch, batches, depth, rows;
    ekd_nn_output_params out_params;

    ekd_status status = ekd_validate_fc(params, quant, input_dims, input, filter_dims,
                                        filter, output_dims, output, &batches);
    if (status != EKD_OK) {
        return status;
    }
    depth = filter_dims->c;
    rows = output_dims->c;
    if (bias == NULL || ((uintptr_t)filter & 3u) != 0 || depth > EKD_MAT_MULT_MAX_DEPTH ||
        params->filter_offset != 0 ||
        !ekd_requantize_fast_valid(quant, rows)) {
        return EKD_ERROR_ARGUMENT;
    }
    out_params.bias = bias;
    out_params.quant = quant;
    out_params.output_offset = params->output_offset;
    out_params.activation_min = params->activation_min;
    out_params.activation_max = params->activation_max;
    for (batch = 0; batch < batches; ++batch) {
        ekd_nn_vec_mat_s8(input + (size_t)batch * depth, depth, filter, rows, &out_params,
                          output + (size_t)batch * rows);
    }
    return EKD_OK;
}
