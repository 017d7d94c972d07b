/*
 * REQUANTIZE: 8-bit integers to 8-bit integers (int8 or uint8 on either side), as TFLM's
 * reference_ops::Requantize runs TFLite's QUANTIZE with an integer input:
 *     out = clamp(MultiplyByQuantizedMultiplier(in - in_zp, multiplier, shift) + out_zp).
 * uint8 appears at the model boundary of converters that keep uint8 inputs and outputs
 * around an int8 graph; same scales and zero points 128 apart make it the sign flip.
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"

ekd_status ekd_requantize_s8(const ekd_requantize_params *params, int32_t size,
                             const void *input, void *output)
{
    const int32_t low = params != NULL && params->output_unsigned ? 0 : -128;
    const int32_t high = low + 255;
    const uint8_t *in_u8 = (const uint8_t *)input;
    const int8_t *in_s8 = (const int8_t *)input;
    int32_t i;

    if (params == NULL || input == NULL || output == NULL || size < 0) {
        return EKD_ERROR_ARGUMENT;
    }
    for (i = 0; i < size; ++i) {
        const int32_t x = (params->input_unsigned ? (int32_t)in_u8[i] : (int32_t)in_s8[i]) +
                          params->input_offset;
        const int32_t y = ekd_clamp_s32(
            ekd_multiply_by_quantized_multiplier(x, params->multiplier, params->shift) +
                params->output_offset,
            low, high);
        if (params->output_unsigned) {
            ((uint8_t *)output)[i] = (uint8_t)y;
        } else {
            ((int8_t *)output)[i] = (int8_t)y;
        }
    }
    return EKD_OK;
}
