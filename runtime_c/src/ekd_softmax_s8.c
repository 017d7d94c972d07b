/*
 * SOFTMAX, int8 input, int8 output with scale 1/256 and zero point -128.
 * Bit-exact with TFLM's reference_ops::Softmax for int8: differences to the row maximum
 * are scaled by beta into Q5.26, exponentiated with gemmlowp's fixed-point exp, summed in
 * Q12.19, and each exp is multiplied by the fixed-point reciprocal of the sum.
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"

enum {
    kAccumulationIntegerBits = 12, /* the sum of exps is Q12.19 */
    kOutputBits = 8
};

/* exp(beta * scale * diff) in Q0.31 for a difference diff <= 0 to the row maximum. */
static int32_t ekd_softmax_exp(const ekd_softmax_params *params, int32_t diff)
{
    const int32_t scaled_diff_q5_26 = ekd_multiply_by_quantized_multiplier_greater_than_one(
        diff, params->input_multiplier, params->input_left_shift);
    return ekd_exp_on_negative_values_q5_26(scaled_diff_q5_26);
}

ekd_status ekd_softmax_s8(const ekd_softmax_params *params, int32_t rows, int32_t depth,
                          const int8_t *input, int8_t *output)
{
    int32_t row, c;

    if (params == NULL || input == NULL || output == NULL || rows < 0 || depth < 1 ||
        params->input_left_shift < 0 || params->input_left_shift > 31 || params->diff_min > 0) {
        return EKD_ERROR_ARGUMENT;
    }
    for (row = 0; row < rows; ++row) {
        const int8_t *x = input + (size_t)row * depth;
        int8_t *y = output + (size_t)row * depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0; /* Q12.19 */
        int32_t headroom_plus_one, num_bits_over_unit, exponent;
        int32_t reciprocal_q0_31;

        for (c = 0; c < depth; ++c) {
            max_in_row = ekd_max_s32(max_in_row, x[c]);
        }
        for (c = 0; c < depth; ++c) {
            const int32_t diff = x[c] - max_in_row;
            if (diff >= params->diff_min) {
                /* Q0.31 -> Q12.19 */
                sum_of_exps = ekd_wrapping_add_s32(
                    sum_of_exps,
                    ekd_rounding_divide_by_pot(ekd_softmax_exp(params, diff),
                                               kAccumulationIntegerBits));
            }
        }

        /* TFLM GetReciprocal: normalise the sum to [1, 2) and take 1 / (1 + x) of its
         * fractional part; num_bits_over_unit is the power of two taken out. The row
         * maximum contributes exp(0) = 2^19, so the sum is positive. */
        headroom_plus_one = ekd_count_leading_zeros_u32((uint32_t)sum_of_exps);
        num_bits_over_unit = kAccumulationIntegerBits - headroom_plus_one;
        reciprocal_q0_31 = ekd_one_over_one_plus_x_for_x_in_0_1(
            ekd_s32_from_bits(((uint32_t)sum_of_exps << headroom_plus_one) - 2147483648u));
        /* The sum is at least 2^19, so exponent >= 23. */
        exponent = num_bits_over_unit + 31 - kOutputBits;

        for (c = 0; c < depth; ++c) {
            const int32_t diff = x[c] - max_in_row;
            int32_t out = -128;
            if (diff >= params->diff_min) {
                const int32_t product = ekd_saturating_rounding_doubling_high_mul(
                    reciprocal_q0_31, ekd_softmax_exp(params, diff));
                /* TFLM stops with a failed check when exponent exceeds 31 (sums of 2^28
                 * or more: over 512 values in a row near its maximum). The rounded
                 * quotient of a non-negative int32 by 2^32 or more is 0; edgekd's
                 * reference defines the result so, and so does this kernel. */
                const int32_t unsaturated =
                    exponent > 31 ? 0 : ekd_rounding_divide_by_pot(product, exponent);
                out = ekd_clamp_s32(unsaturated - 128, -128, 127);
            }
            y[c] = (int8_t)out;
        }
    }
    return EKD_OK;
}
