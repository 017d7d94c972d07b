/*
 * MUL, int8, with TFLite's broadcasting (up to 4-D through an ekd_broadcast_shape).
 * Bit-exact with TFLM's MulElementwise / BroadcastMul4DSlow: the offset product,
 * requantized, offset and clamped. Each output value is written after both its inputs
 * are read, so the output may alias an input that is not broadcast.
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_requantize.h"
#include "ekd_shape_loops.h"
#include "ekd_validate.h"

/* MUL row by row with the fast requantization (ekd_requantize.h): the product of two
 * offset int8 values is below 2^16 in magnitude, far inside its exact range, for the
 * multiplier >= 0 and shift <= 0 TFLM prepares from any scales whose product is below
 * the output scale. */
static void ekd_mul_rows(const ekd_mul_params *params, const ekd_broadcast_shape *shape,
                         const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const int32_t n = shape->dims[3];
    const size_t step1 = (size_t)shape->stride1[3], step2 = (size_t)shape->stride2[3];
    const int32_t right_shift = -params->output_shift;
    const int32_t half = right_shift > 0 ? (int32_t)((uint32_t)1 << (right_shift - 1)) : 0;
    const uint32_t round_negatives = right_shift > 0 ? 1u : 0u;
    size_t out = 0;

    EKD_FOR_EACH_ROW(shape->dims, shape->stride1, row1, shape->stride2, row2, {
        const int8_t *a = input1 + row1;
        const int8_t *b = input2 + row2;
        int32_t i;
        for (i = 0; i < n; ++i, a += step1, b += step2) {
            const int32_t product = (*a + params->input1_offset) * (*b + params->input2_offset);
            const int32_t scaled = ekd_requantize_fast_general(
                product, params->output_multiplier, right_shift, half, round_negatives);
            output[out++] = (int8_t)ekd_clamp_s32(scaled + params->output_offset,
                                                  params->activation_min,
                                                  params->activation_max);
        }
    });
}

ekd_status ekd_mul_s8(const ekd_mul_params *params, const ekd_broadcast_shape *shape,
                      const int8_t *input1, const int8_t *input2, int8_t *output)
{
    size_t out = 0;

    if (params == NULL || !ekd_broadcast_valid(shape, input1, input2, output) ||
        !ekd_offset_valid(params->input1_offset) || !ekd_offset_valid(params->input2_offset) ||
        !ekd_offset_valid(params->output_offset) || !ekd_shift_valid(params->output_shift) ||
        !ekd_activation_valid(params->activation_min, params->activation_max)) {
        return EKD_ERROR_ARGUMENT;
    }
    if (params->output_multiplier >= 0 && params->output_shift <= 0) {
        ekd_mul_rows(params, shape, input1, input2, output);
        return EKD_OK;
    }
    EKD_FOR_EACH_4D(shape->dims, shape->stride1, at1, shape->stride2, at2, {
        const int32_t product = (input1[at1] + params->input1_offset) *
                                (input2[at2] + params->input2_offset);
        const int32_t scaled = ekd_multiply_by_quantized_multiplier(
            product, params->output_multiplier, params->output_shift);
        output[out++] = (int8_t)ekd_clamp_s32(scaled + params->output_offset,
                                              params->activation_min, params->activation_max);
    });
    return EKD_OK;
}
