/*
 * DEQUANTIZE, int8 -> float32, at the model output.
 * As TFLM's reference_ops::Dequantize: x = scale * (q - zero_point). TFLM multiplies in
 * double and rounds to float; the exact product of a float and a 9-bit integer fits a
 * double, so one correctly rounded float multiply gives the same bits.
 */
#include "edgekd/ekd.h"

ekd_status ekd_dequantize_s8_f32(float scale, int32_t zero_point, int32_t size,
                                 const int8_t *input, float *output)
{
    int32_t i;

    if (input == NULL || output == NULL || size < 0 || zero_point < -128 || zero_point > 127) {
        return EKD_ERROR_ARGUMENT;
    }
    for (i = 0; i < size; ++i) {
        output[i] = scale * (float)(input[i] - zero_point);
    }
    return EKD_OK;
}
