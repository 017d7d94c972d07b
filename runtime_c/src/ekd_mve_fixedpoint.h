/*
 * Helium (MVE) fixed-point helpers shared by the *_mve kernels (internal). Include only
 * where EKD_HAVE_MVE is 1.
 *
 * Four int32 lanes at a time, bit for bit what ekd_fixedpoint.h computes one value at a
 * time:
 *   - VQRDMULH is gemmlowp's SaturatingRoundingDoublingHighMul: both round the product
 *     to nearest with halves toward +infinity (gemmlowp's nudge of 1 - 2^30 for negative
 *     products, then truncation, lands on the same integer) and both saturate only
 *     INT32_MIN * INT32_MIN, to INT32_MAX.
 *   - VRSHL by -n rounds halves toward +infinity, gemmlowp's RoundingDivideByPOT away
 *     from zero: subtracting 1 from negative values first (saturating, which only
 *     INT32_MIN meets, where the result is the same) makes the two agree.
 *   - VSHL by a positive amount wraps, as TFLM's x * (1 << left_shift) does here.
 */
#ifndef EDGEKD_EKD_MVE_FIXEDPOINT_H
#define EDGEKD_EKD_MVE_FIXEDPOINT_H

#include <arm_mve.h>
#include <stdint.h>

/* RoundingDivideByPOT(x, -right) per lane, right <= 0 (0: x unchanged). */
static inline int32x4_t ekd_mve_rounding_divide_by_pot(int32x4_t x, int32x4_t right)
{
    /* x & right has the sign bit of x exactly when right is negative: -1 for negative x
     * with a shift to do, else 0. */
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(x, right), 31);
    return vrshlq_s32(vqaddq_s32(x, fixup), right);
}

/* TFLM MultiplyByQuantizedMultiplier (double rounding) per lane, one (multiplier, shift)
 * per lane; EKD_SHIFT_MIN <= shift <= EKD_SHIFT_MAX. */
static inline int32x4_t ekd_mve_requantize(int32x4_t acc, int32x4_t multiplier, int32x4_t shift)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t scaled = vqrdmulhq_s32(vshlq_s32(acc, vmaxq_s32(shift, zero)), multiplier);
    return ekd_mve_rounding_divide_by_pot(scaled, vminq_s32(shift, zero));
}

/* The same for shifts <= 0 only (every real multiplier below one, the usual case):
 * no left shift, and no zero vector to split the shift with. */
static inline int32x4_t ekd_mve_requantize_right(int32x4_t acc, int32x4_t multiplier,
                                                 int32x4_t shift)
{
    return ekd_mve_rounding_divide_by_pot(vqrdmulhq_s32(acc, multiplier), shift);
}

/* Whether every shift of n channels is <= 0 (then ekd_mve_requantize_right applies). */
static inline int ekd_mve_shifts_right_only(const int32_t *shift, int32_t n)
{
    int32_t c;
    for (c = 0; c < n; ++c) {
        if (shift[c] > 0) {
            return 0;
        }
    }
    return 1;
}

/* The same with one (multiplier, shift) for all four lanes. */
static inline int32x4_t ekd_mve_requantize_n(int32x4_t acc, int32_t multiplier, int32_t shift)
{
    if (shift > 0) {
        return vqrdmulhq_n_s32(vshlq_r_s32(acc, shift), multiplier);
    }
    acc = vqrdmulhq_n_s32(acc, multiplier);
    if (shift < 0) {
        acc = vrshlq_n_s32(vqaddq_s32(acc, vshrq_n_s32(acc, 31)), shift);
    }
    return acc;
}

/* Output offset, then the activation clamp, per lane (the offset add wraps, as in the
 * portable kernels). */
static inline int32x4_t ekd_mve_offset_clamp(int32x4_t x, int32_t offset, int32_t act_min,
                                             int32_t act_max)
{
    x = vaddq_n_s32(x, offset);
    return vminq_s32(vmaxq_s32(x, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
}

#endif /* EDGEKD_EKD_MVE_FIXEDPOINT_H */
