/*
 * Fast requantization for the optimized kernels (internal): the same bytes as TFLM's
 * double-rounding MultiplyByQuantizedMultiplier (ekd_multiply_by_quantized_multiplier)
 * in a few instructions, for the operands a convolution actually produces.
 *
 * Preconditions, checked once per kernel call (ekd_requantize_fast_valid) or offline by
 * the code generator (the accumulator bound):
 *   |acc| < 2^30, 0 <= multiplier, shift <= -1 (a right shift; every int8 convolution of a
 *   trained model has one, as the real multiplier input_scale * weight_scale /
 *   output_scale is below 1/2) or a zero multiplier (ekd_requantize_fast_shift).
 *
 * Why it is exact. For m >= 0 gemmlowp's SaturatingRoundingDoublingHighMul never
 * saturates, and its nudge-then-truncate equals one floor:
 *     t = SRDHM(acc, m) = floor((acc * m + 2^30) / 2^31) = hi32(2 * acc * m + 2^31),
 * the last form being SMMULR of 2 * acc (which |acc| < 2^30 keeps in int32). gemmlowp's
 * RoundingDivideByPOT(t, e) (halves away from zero) is floor((t + 2^(e-1) - [t < 0]) / 2^e);
 * for e >= 1 and m >= 0, [t < 0] may be replaced by [acc < 0]: they differ only when
 * t == 0 and acc < 0, where both give 0. So with h = 2^(e-1):
 *     result = (SMMLAR(2 * acc, m, h - [acc < 0])) >> e       (arithmetic shift)
 * and t + h stays below 2^31 because |t| < 2^30. tests/runtime_c/test_requantize.py checks
 * it against the reference over edge cases and random operands.
 */
#ifndef EDGEKD_EKD_REQUANTIZE_H
#define EDGEKD_EKD_REQUANTIZE_H

#include <stdint.h>

#include "edgekd/ekd.h"
#include "ekd_dsp.h"
#include "ekd_fixedpoint.h"

/* Bound on |accumulator| (exclusive) under which ekd_requantize_fast is exact. */
#define EKD_REQUANTIZE_FAST_ACC_LIMIT ((int32_t)1 << 30)

/* One output channel's requantization in the form the fast path uses. */
typedef struct {
    int32_t multiplier;
    int32_t right_shift; /* e = -shift, 1..31 */
    int32_t half;        /* 2^(e - 1) */
} ekd_requant_channel;

/* The right shift the fast path uses for a channel: -shift, or 1 for a zero multiplier
 * (TFLite stores a real multiplier too small for Q31, or zero, as (0, 0); every shift
 * then gives 0, and a right shift keeps the fast path's arithmetic defined). */
static inline int32_t ekd_requantize_fast_shift(int32_t multiplier, int32_t shift)
{
    return multiplier == 0 ? 1 : -shift;
}

/* 1 when every channel's multiplier and shift meet the preconditions above (a zero
 * multiplier takes any valid shift). */
static inline int ekd_requantize_fast_valid(const ekd_per_channel_quant *quant,
                                            int32_t channels)
{
    int32_t c;
    if (quant->multiplier == NULL || quant->shift == NULL) {
        return 0;
    }
    for (c = 0; c < channels; ++c) {
        const int32_t m = quant->multiplier[c], shift = quant->shift[c];
        if (m < 0 || shift < EKD_SHIFT_MIN || shift > EKD_SHIFT_MAX || (m > 0 && shift > -1)) {
            return 0;
        }
    }
    return 1;
}

static inline ekd_requant_channel ekd_requant_channel_at(const ekd_per_channel_quant *quant,
                                                         int32_t c)
{
    ekd_requant_channel r;
    r.multiplier = quant->multiplier[c];
    r.right_shift = ekd_requantize_fast_shift(r.multiplier, quant->shift[c]);
    r.half = (int32_t)((uint32_t)1 << (r.right_shift - 1));
    return r;
}

/* MultiplyByQuantizedMultiplier(acc, multiplier, -right_shift) for |acc| < 2^30,
 * multiplier >= 0 and right_shift 0..31, with half = 2^(right_shift - 1) and
 * round_negatives = 1 for right_shift >= 1, half = round_negatives = 0 for right_shift 0
 * (then only the high multiply rounds: SRDHM = SMMLAR(2 * acc, m, 0)). */
static inline int32_t ekd_requantize_fast_general(int32_t acc, int32_t multiplier,
                                                  int32_t right_shift, int32_t half,
                                                  uint32_t round_negatives)
{
    const int32_t doubled = ekd_wrapping_shift_left_s32(acc, 1);
    const int32_t round = half - (int32_t)(((uint32_t)acc >> 31) & round_negatives);
#if EKD_ARM_DSP
    return ekd_floor_shift_right_s32(ekd_smmlar(doubled, multiplier, round), right_shift);
#else
    const uint64_t product = (uint64_t)((int64_t)doubled * multiplier);
    const int32_t high = ekd_s32_from_bits((uint32_t)(product >> 32)) +
                         (int32_t)((uint32_t)product >> 31);
    return ekd_floor_shift_right_s32(high + round, right_shift);
#endif
}

/* MultiplyByQuantizedMultiplier(acc, multiplier, -right_shift) under the preconditions
 * (right_shift >= 1, half = 2^(right_shift - 1)). */
static inline int32_t ekd_requantize_fast(int32_t acc, int32_t multiplier, int32_t right_shift,
                                          int32_t half)
{
    return ekd_requantize_fast_general(acc, multiplier, right_shift, half, 1u);
}

/* Requantize, add the output offset and clamp: one int8 output value. */
static inline int8_t ekd_requantize_output(int32_t acc, ekd_requant_channel r,
                                           int32_t output_offset, int32_t activation_min,
                                           int32_t activation_max)
{
    const int32_t v = ekd_requantize_fast(acc, r.multiplier, r.right_shift, r.half) +
                      output_offset;
    return (int8_t)ekd_clamp_s32(v, activation_min, activation_max);
}

#endif /* EDGEKD_EKD_REQUANTIZE_H */
