/*
 * MUL, SUB, ADD (where its inputs differ in shape or one is a constant), MINIMUM, MAXIMUM
 * and PRELU on int8 with TFLite's broadcasting.
 * Bit-exact with TFLM's reference kernels (MulElementwise / BroadcastMul4DSlow,
 * SubElementwise / BroadcastQuantSubSlow, MaximumMinimumBroadcastSlow,
 * BroadcastPrelu4DSlow): the same
 * arithmetic per output value, the inputs read through the strides of the geometry
 * (0 along a broadcast dim). Each output value is written after both its inputs are
 * read, so the output may alias an input that is not broadcast.
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_requantize.h"
#include "ekd_shape_loops.h"
#include "ekd_validate.h"

static int ekd_broadcast_valid(const ekd_broadcast_shape *s, const int8_t *input1,
                               const int8_t *input2, const int8_t *output)
{
    return s != NULL && input1 != NULL && input2 != NULL && output != NULL &&
           ekd_dims4_valid(s->dims, s->stride1, s->stride2);
}

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

/* TFLM's int8 ADD (`sign` 1) or SUB (`sign` -1) of the rescaled inputs. */
static ekd_status ekd_add_or_sub_s8(const ekd_add_params *params,
                                    const ekd_broadcast_shape *shape, const int8_t *input1,
                                    const int8_t *input2, int8_t *output, int32_t sign)
{
    size_t out = 0;
    int32_t headroom;

    if (params == NULL || !ekd_broadcast_valid(shape, input1, input2, output) ||
        !ekd_add_params_valid(params)) {
        return EKD_ERROR_ARGUMENT;
    }
    headroom = (int32_t)1 << params->left_shift;
    EKD_FOR_EACH_4D(shape->dims, shape->stride1, at1, shape->stride2, at2, {
        const int32_t scaled1 = ekd_multiply_by_quantized_multiplier_smaller_than_one(
            (input1[at1] + params->input1_offset) * headroom, params->input1_multiplier,
            params->input1_shift);
        const int32_t scaled2 = ekd_multiply_by_quantized_multiplier_smaller_than_one(
            (input2[at2] + params->input2_offset) * headroom, params->input2_multiplier,
            params->input2_shift);
        const int32_t raw = ekd_multiply_by_quantized_multiplier_smaller_than_one(
            scaled1 + sign * scaled2, params->output_multiplier, params->output_shift);
        output[out++] = (int8_t)ekd_clamp_s32(ekd_wrapping_add_s32(raw, params->output_offset),
                                              params->activation_min, params->activation_max);
    });
    return EKD_OK;
}

ekd_status ekd_sub_s8(const ekd_add_params *params, const ekd_broadcast_shape *shape,
                      const int8_t *input1, const int8_t *input2, int8_t *output)
{
    return ekd_add_or_sub_s8(params, shape, input1, input2, output, -1);
}

ekd_status ekd_add_broadcast_s8(const ekd_add_params *params, const ekd_broadcast_shape *shape,
                                const int8_t *input1, const int8_t *input2, int8_t *output)
{
    return ekd_add_or_sub_s8(params, shape, input1, input2, output, 1);
}

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

/* The smaller code (`sign` -1) or the larger (`sign` 1) of each pair. */
static ekd_status ekd_extreme_s8(const ekd_broadcast_shape *shape, const int8_t *input1,
                                 const int8_t *input2, int8_t *output, int32_t sign)
{
    size_t out = 0;

    if (!ekd_broadcast_valid(shape, input1, input2, output)) {
        return EKD_ERROR_ARGUMENT;
    }
    EKD_FOR_EACH_4D(shape->dims, shape->stride1, at1, shape->stride2, at2, {
        const int8_t a = input1[at1];
        const int8_t b = input2[at2];
        output[out++] = sign * a > sign * b ? a : b;
    });
    return EKD_OK;
}

ekd_status ekd_minimum_s8(const ekd_broadcast_shape *shape, const int8_t *input1,
                          const int8_t *input2, int8_t *output)
{
    return ekd_extreme_s8(shape, input1, input2, output, -1);
}

ekd_status ekd_maximum_s8(const ekd_broadcast_shape *shape, const int8_t *input1,
                          const int8_t *input2, int8_t *output)
{
    return ekd_extreme_s8(shape, input1, input2, output, 1);
}
