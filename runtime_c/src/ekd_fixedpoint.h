/*
 * Fixed-point helpers shared by the kernels (internal; not part of the public API).
 *
 * These reproduce gemmlowp's scalar fixed-point primitives and TFLM's double-rounding
 * MultiplyByQuantizedMultiplier bit for bit, written so that no input value leads to
 * undefined behaviour: left shifts and wrapping sums go through uint32_t, right shifts
 * of negative values use an explicit floor form, and only the doubling high multiply
 * uses a 64-bit product (as gemmlowp does).
 *
 * Fixed-point notation: Qm.n is an int32_t holding value * 2^n, with m integer bits
 * (m + n = 31).
 */
#ifndef EDGEKD_EKD_FIXEDPOINT_H
#define EDGEKD_EKD_FIXEDPOINT_H

#include <stdint.h>

#define EKD_INT32_MIN (-2147483647 - 1)
#define EKD_INT32_MAX 2147483647

/* Allowed range of a requantization shift. TFLM's QuantizeMultiplier gives -31..30 for
 * real multipliers below 2^30 (smaller than 2^-31 flush to multiplier 0), and the exponent
 * itself, up to 1024, for larger ones (an output scale far below input x weight scale):
 * ekd_multiply_by_quantized_multiplier defines what TFLM computes there. */
#define EKD_SHIFT_MIN (-31)
#define EKD_SHIFT_MAX 1024

static inline int32_t ekd_min_s32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t ekd_max_s32(int32_t a, int32_t b) { return a > b ? a : b; }

static inline int32_t ekd_clamp_s32(int32_t x, int32_t lo, int32_t hi)
{
    return ekd_min_s32(ekd_max_s32(x, lo), hi);
}

/* The int32_t with the same two's-complement bits as u. Written without the
 * implementation-defined out-of-range conversion; compilers reduce it to nothing. */
static inline int32_t ekd_s32_from_bits(uint32_t u)
{
    if (u <= (uint32_t)EKD_INT32_MAX) {
        return (int32_t)u;
    }
    return (int32_t)(u - 2147483648u) + EKD_INT32_MIN;
}

/* a + b modulo 2^32: what TFLM's int32 additions do on every target when they overflow. */
static inline int32_t ekd_wrapping_add_s32(int32_t a, int32_t b)
{
    return ekd_s32_from_bits((uint32_t)a + (uint32_t)b);
}

/* x * 2^shift modulo 2^32 (0 <= shift <= 31), TFLM's `x * (1 << shift)`. */
static inline int32_t ekd_wrapping_shift_left_s32(int32_t x, int32_t shift)
{
    return ekd_s32_from_bits((uint32_t)x << shift);
}

/* floor(x / 2^shift), 0 <= shift <= 31: the arithmetic right shift, spelled so that
 * only non-negative values are shifted. */
static inline int32_t ekd_floor_shift_right_s32(int32_t x, int32_t shift)
{
    return x >= 0 ? x >> shift : -1 - ((-1 - x) >> shift);
}

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31), halves away from
 * zero, with INT32_MIN * INT32_MIN saturating to INT32_MAX (ARM's VQRDMULH). */
static inline int32_t ekd_saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t nudged;
    if (a == EKD_INT32_MIN && b == EKD_INT32_MIN) {
        return EKD_INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    /* Nudge by +-2^30, then divide by 2^31 truncating toward zero; nudged has the sign
     * of ab, so the truncating division is a shift of its magnitude. */
    if (ab >= 0) {
        nudged = ab + ((int64_t)1 << 30);
        return (int32_t)(nudged >> 31);
    }
    nudged = ab + (1 - ((int64_t)1 << 30));
    return (int32_t)(-((-nudged) >> 31));
}

/* gemmlowp RoundingDivideByPOT: x / 2^exponent rounded to nearest, halves away from
 * zero; 0 <= exponent <= 31. */
static inline int32_t ekd_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const uint32_t mask = ((uint32_t)1 << exponent) - 1u;
    const uint32_t remainder = (uint32_t)x & mask;
    const uint32_t threshold = (mask >> 1) + (x < 0 ? 1u : 0u);
    return ekd_floor_shift_right_s32(x, exponent) + (remainder > threshold ? 1 : 0);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT for 0 <= exponent <= 30: x * 2^exponent,
 * saturating at the int32 range. */
static inline int32_t ekd_saturating_multiply_by_pot(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold) {
        return EKD_INT32_MAX;
    }
    if (x < -threshold) {
        return EKD_INT32_MIN;
    }
    return x * ((int32_t)1 << exponent);
}

/* TFLM MultiplyByQuantizedMultiplier (double rounding): x * multiplier * 2^(shift - 31).
 * A positive shift scales x up before the high multiply, a negative one rounds it down
 * after; EKD_SHIFT_MIN <= shift <= EKD_SHIFT_MAX. TFLM scales up by x * (1 << shift),
 * undefined in C from shift 31 on; what its build for the host (the oracle) computes, and
 * what this does on every target, is the wrapping product with the shift count taken
 * modulo 32 (the x86 shift instruction's rule). The kernels that take shifts > 30 are the
 * portable ones; the code generator calls no other for such a layer. */
static inline int32_t ekd_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier,
                                                           int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift % 32 : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    return ekd_rounding_divide_by_pot(
        ekd_saturating_rounding_doubling_high_mul(
            ekd_wrapping_shift_left_s32(x, left_shift), multiplier),
        right_shift);
}

/* TFLM MultiplyByQuantizedMultiplierSmallerThanOneExp: shift <= 0. */
static inline int32_t ekd_multiply_by_quantized_multiplier_smaller_than_one(
    int32_t x, int32_t multiplier, int32_t shift)
{
    return ekd_rounding_divide_by_pot(ekd_saturating_rounding_doubling_high_mul(x, multiplier),
                                      -shift);
}

/* TFLM MultiplyByQuantizedMultiplierGreaterThanOne: left_shift >= 0, no final rounding. */
static inline int32_t ekd_multiply_by_quantized_multiplier_greater_than_one(
    int32_t x, int32_t multiplier, int32_t left_shift)
{
    return ekd_saturating_rounding_doubling_high_mul(ekd_wrapping_shift_left_s32(x, left_shift),
                                                     multiplier);
}

/* gemmlowp RoundingHalfSum: (a + b) / 2 rounded to nearest, halves away from zero. */
static inline int32_t ekd_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* Leading zero bits of a 32-bit word (32 for 0). */
static inline int32_t ekd_count_leading_zeros_u32(uint32_t x)
{
    int32_t zeros = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        ++zeros;
    }
    return zeros;
}

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl: exp(a) for a in
 * [-1/4, 0), a and the result in Q0.31. A Taylor expansion around -1/8. */
static inline int32_t ekd_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0.31 */
    const int32_t one_third = 715827883;             /* 1/3 in Q0.31 */
    const int32_t x = a + ((int32_t)1 << 28);        /* a + 1/8 */
    const int32_t x2 = ekd_saturating_rounding_doubling_high_mul(x, x);
    const int32_t x3 = ekd_saturating_rounding_doubling_high_mul(x2, x);
    const int32_t x4 = ekd_saturating_rounding_doubling_high_mul(x2, x2);
    const int32_t x4_over_4 = ekd_rounding_divide_by_pot(x4, 2);
    const int32_t x4_over_24_plus_x3_over_6_plus_x2_over_2 = ekd_rounding_divide_by_pot(
        ekd_saturating_rounding_doubling_high_mul(x4_over_4 + x3, one_third) + x2, 1);
    return exp_minus_one_eighth +
           ekd_saturating_rounding_doubling_high_mul(
               exp_minus_one_eighth, x + x4_over_24_plus_x3_over_6_plus_x2_over_2);
}

/* gemmlowp exp_on_negative_values for a Q5.26 input (softmax's scaled differences):
 * exp(a) in Q0.31 for a <= 0. The fraction modulo 1/4 goes through the Taylor
 * expansion; each set bit of the rest multiplies by a constant exp(-2^k). */
static inline int32_t ekd_exp_on_negative_values_q5_26(int32_t a)
{
    enum { kFractionalBits = 26 };
    static const int32_t exp_of_minus_pot[7] = {
        /* exp(-2^k) in Q0.31 for k = -2 .. 4 */
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242,
    };
    const int32_t one_quarter = (int32_t)1 << (kFractionalBits - 2);
    const int32_t a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter;
    /* Q5.26 -> Q0.31; the value lies in [-1/4, 0) so the rescale cannot saturate. */
    int32_t result = ekd_exp_on_interval_between_negative_one_quarter_and_0_excl(
        ekd_saturating_multiply_by_pot(a_mod_quarter_minus_one_quarter, 5));
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
    int32_t k;
    for (k = 0; k < 7; ++k) {
        if (remainder & ((int32_t)1 << (kFractionalBits - 2 + k))) {
            result = ekd_saturating_rounding_doubling_high_mul(result, exp_of_minus_pot[k]);
        }
    }
    return a == 0 ? EKD_INT32_MAX : result; /* exp(0) = 1, the largest Q0.31 value */
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: 1 / (1 + a) for a in [0, 1), input and
 * result in Q0.31. Three Newton-Raphson steps on the half denominator, in Q2.29. */
static inline int32_t ekd_one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int32_t q2_one = (int32_t)1 << 29;
    const int32_t forty_eight_over_17 = 1515870810;     /* Q2.29 */
    const int32_t minus_thirty_two_over_17 = -1010580540; /* Q2.29 */
    const int32_t half_denominator = ekd_rounding_half_sum(a, EKD_INT32_MAX);
    int32_t x = forty_eight_over_17 +
                ekd_saturating_rounding_doubling_high_mul(half_denominator,
                                                          minus_thirty_two_over_17);
    int32_t i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x =
            ekd_saturating_rounding_doubling_high_mul(half_denominator, x);
        const int32_t one_minus_half_denominator_times_x = q2_one - half_denominator_times_x;
        /* Q2.29 * Q2.29 = Q4.27, rescaled back to Q2.29 */
        const int32_t correction_q4_27 =
            ekd_saturating_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x);
        x = x + ekd_saturating_multiply_by_pot(correction_q4_27, 2);
    }
    /* x / 2 in Q1.30 reinterpreted, rescaled to Q0.31 */
    return ekd_saturating_multiply_by_pot(x, 1);
}

#endif /* EDGEKD_EKD_FIXEDPOINT_H */
