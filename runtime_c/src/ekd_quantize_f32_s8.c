/*
 * QUANTIZE, float32 -> int8, at the model input.
 * As TFLM's reference_ops::AffineQuantize: q = round(x / scale) + zero_point, the division
 * in single precision, rounding halves away from zero, clamped to [-128, 127].
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"

/* Quotients beyond this magnitude clamp to -128 or 127 whatever the zero point; limiting
 * them first keeps the float -> int conversion defined. */
#define EKD_QUANTIZE_LIMIT 65536.0f

/* roundf() without libm: halves away from zero. The fractional part of a float is exact,
 * so comparing it with 0.5 decides the rounding exactly. */
static int32_t ekd_round_half_away_f32(float x)
{
    const int32_t truncated = (int32_t)x;
    const float fraction = x - (float)truncated;
    if (fraction >= 0.5f) {
        return truncated + 1;
    }
    if (fraction <= -0.5f) {
        return truncated - 1;
    }
    return truncated;
}

ekd_status ekd_quantize_f32_s8(float scale, int32_t zero_point, int32_t size,
                               const float *input, int8_t *output)
{
    int32_t i;

    if (input == NULL || output == NULL || size < 0 || !(scale > 0.0f) ||
        zero_point < -128 || zero_point > 127) {
        return EKD_ERROR_ARGUMENT;
    }
    for (i = 0; i < size; ++i) {
        float quotient = input[i] / scale;
        if (quotient != quotient) {
            quotient = 0.0f; /* NaN has no integer value; TFLM leaves it undefined */
        }
        quotient = quotient < -EKD_QUANTIZE_LIMIT ? -EKD_QUANTIZE_LIMIT : quotient;
        quotient = quotient > EKD_QUANTIZE_LIMIT ? EKD_QUANTIZE_LIMIT : quotient;
        output[i] = (int8_t)ekd_clamp_s32(ekd_round_half_away_f32(quotient) + zero_point,
                                          -128, 127);
    }
    return EKD_OK;
}
