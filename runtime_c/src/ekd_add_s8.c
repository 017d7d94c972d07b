/*
 * ADD, int8, elementwise over equal shapes.
 * Bit-exact with TFLM's reference_integer_ops::AddElementwise: each input is offset,
 * scaled up by 2^left_shift for headroom, rescaled to the common scale (multiplier < 1),
 * summed, then rescaled to the output.
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_validate.h"

ekd_status ekd_add_s8(const ekd_add_params *params, int32_t size,
                      const int8_t *input1, const int8_t *input2, int8_t *output)
{
    int32_t i, headroom;

    if (params == NULL || input1 == NULL || input2 == NULL || output == NULL || size < 0 ||
        !ekd_add_params_valid(params)) {
        return EKD_ERROR_ARGUMENT;
    }
    headroom = (int32_t)1 << params->left_shift;
    for (i = 0; i < size; ++i) {
        const int32_t shifted1 = (input1[i] + params->input1_offset) * headroom;
        const int32_t shifted2 = (input2[i] + params->input2_offset) * headroom;
        const int32_t scaled1 = ekd_multiply_by_quantized_multiplier_smaller_than_one(
            shifted1, params->input1_multiplier, params->input1_shift);
        const int32_t scaled2 = ekd_multiply_by_quantized_multiplier_smaller_than_one(
            shifted2, params->input2_multiplier, params->input2_shift);
        const int32_t raw_output =
            ekd_wrapping_add_s32(ekd_multiply_by_quantized_multiplier_smaller_than_one(
                                     ekd_wrapping_add_s32(scaled1, scaled2),
                                     params->output_multiplier, params->output_shift),
                                 params->output_offset);
        /* Read both inputs before writing: output may alias either of them. */
        output[i] = (int8_t)ekd_clamp_s32(raw_output, params->activation_min,
                                          params->activation_max);
    }
    return EKD_OK;
}
