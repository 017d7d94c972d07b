/*
 * PRELU, int8, alpha broadcast against the input (up to 4-D).
 * Bit-exact with TFLM's BroadcastPrelu4DSlow: at or above the input zero point the
 * rescaled input, below it the rescaled product with alpha; offset and saturated.
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_shape_loops.h"
#include "ekd_validate.h"

ekd_status ekd_prelu_s8(const ekd_prelu_params *params, const ekd_broadcast_shape *shape,
                        const int8_t *input, const int8_t *alpha, int8_t *output)
{
    size_t out = 0;

    if (params == NULL || !ekd_broadcast_valid(shape, input, alpha, output) ||
        !ekd_offset_valid(params->input_offset) || !ekd_offset_valid(params->alpha_offset) ||
        !ekd_offset_valid(params->output_offset) || !ekd_shift_valid(params->output_shift_1) ||
        !ekd_shift_valid(params->output_shift_2)) {
        return EKD_ERROR_ARGUMENT;
    }
    EKD_FOR_EACH_4D(shape->dims, shape->stride1, at1, shape->stride2, at2, {
        const int32_t value = input[at1] + params->input_offset;
        const int32_t scaled =
            value >= 0 ? ekd_multiply_by_quantized_multiplier(
                             value, params->output_multiplier_1, params->output_shift_1)
                       : ekd_multiply_by_quantized_multiplier(
                             value * (alpha[at2] + params->alpha_offset),
                             params->output_multiplier_2, params->output_shift_2);
        output[out++] = (int8_t)ekd_clamp_s32(scaled + params->output_offset, -128, 127);
    });
    return EKD_OK;
}
