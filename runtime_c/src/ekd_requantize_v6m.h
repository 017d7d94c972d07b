/*
 * ekd_requantize.h's fast requantization for Armv6-M (internal): the same bytes, without
 * the 64-bit product, which a Cortex-M0 (MULS: 32 x 32 -> low 32 bits only) computes by
 * a call to the library's general 64 x 64 multiply.
 *
 * One floor instead of two. With t = floor((acc * m + 2^30) / 2^31) (SRDHM for m >= 0),
 * e = right_shift, h = 2^(e-1) and n = [acc < 0], the result is floor((t + h - n) / 2^e)
 * (ekd_requantize.h); since floor(floor(Y / a) / b) = floor(Y / (a b)) and an integer
 * added inside a floor can move into its numerator:
 *     result = floor((acc * m + 2^30 + 2^(30+e) - n * 2^31) / 2^(31+e)).
 * Short path, for |acc| < 2^15 and e <= 15 (most accumulators of a real layer): with
 * m = mh * 2^16 + ml (ml < 2^16, mh < 2^15), a = acc * mh and b = acc * ml both fit an
 * int32, the constant terms are multiples of 2^16, so dividing the numerator by 2^16
 * first gives
 *     result = (a + (b >> 16) + 2^14 + 2^(14+e) - n * 2^15) >> (15 + e)
 * (arithmetic shifts), whose sum stays within (-2^31, 2^31): |a| < 2^30, the rest
 * < 2^29 + 2^16. Two MULS, no carries between halves.
 *
 * Long path (any |acc| < 2^30, 0 <= m < 2^31): hi = floor((acc * m + 2^30) / 2^31)
 * exactly, in 32-bit pieces. With acc = ah * 2^16 + al and m = mh * 2^16 + ml (al, ml in
 * [0, 2^16), ah = acc >> 16 in [-2^14, 2^14], mh < 2^15):
 *     t = al * ml                       (unsigned, < 2^32)
 *     u = al * mh + (t >> 16)           (unsigned, < 2^31 + 2^16)
 *     v = ah * ml + (u & 0xFFFF)        (signed, |v| < 2^30 + 2^16)
 *     acc * m = 2^32 * H + L,  H = ah * mh + (u >> 16) + (v >> 16),
 *                              L = (v & 0xFFFF) * 2^16 + (t & 0xFFFF) in [0, 2^32)
 *     hi = 2 * H + floor((L + 2^30) / 2^31) = 2 * H + ((L >> 1) + 2^29) >> 30.
 * No partial product leaves the int32/uint32 range; four MULS in all. The rest is
 * ekd_requantize_fast_general's rounding shift. tests/runtime_c/test_kernels_m0.py runs
 * both paths on the Cortex-M0 against the reference.
 */
#ifndef EDGEKD_EKD_REQUANTIZE_V6M_H
#define EDGEKD_EKD_REQUANTIZE_V6M_H

#include <stdint.h>

#include "ekd_fixedpoint.h"

/* Bound (exclusive) on |acc| for the short path, and the largest shift it takes. */
#define EKD_REQUANT_V6M_SHORT_ACC ((int32_t)1 << 15)
#define EKD_REQUANT_V6M_SHORT_SHIFT 15

/* The short path's operands for one output channel (ekd_requant_v6m_make). */
typedef struct {
    int32_t m_lo, m_hi; /* multiplier & 0xFFFF, multiplier >> 16 */
    /* 2^16 when the short path applies (e <= 15), else 0, so that one unsigned compare
     * of acc + 2^15 checks both; the rounding term 2^14 + 2^(14+e); 15 + e. */
    uint32_t short_limit;
    uint32_t short_limit_positive; /* the same bound for acc > 0: 2^15 or 0 */
    int32_t short_round;
    int32_t short_shift;
    int32_t multiplier, shift; /* as given, for the long path */
} ekd_requant_v6m;

static inline ekd_requant_v6m ekd_requant_v6m_make(int32_t multiplier, int32_t shift)
{
    ekd_requant_v6m r;
    const int32_t e = multiplier == 0 ? 1 : -shift; /* ekd_requantize_fast_shift */
    r.m_lo = (int32_t)((uint32_t)multiplier & 0xFFFFu);
    r.m_hi = (int32_t)((uint32_t)multiplier >> 16);
    r.short_limit = e <= EKD_REQUANT_V6M_SHORT_SHIFT ? 2u * (uint32_t)EKD_REQUANT_V6M_SHORT_ACC
                                                      : 0u;
    r.short_limit_positive = r.short_limit >> 1;
    r.short_round = e <= EKD_REQUANT_V6M_SHORT_SHIFT
                        ? (int32_t)((1u << 14) + (1u << (14 + e))) : 0;
    r.short_shift = 15 + e;
    r.multiplier = multiplier;
    r.shift = shift;
    return r;
}

/* The long path, out of line: rare, and its code is large. */
static __attribute__((noinline)) int32_t ekd_requantize_v6m_long(int32_t acc, int32_t multiplier,
                                                                 int32_t shift)
{
    const int32_t m_lo = (int32_t)((uint32_t)multiplier & 0xFFFFu);
    const int32_t m_hi = (int32_t)((uint32_t)multiplier >> 16);
    const int32_t e = multiplier == 0 ? 1 : -shift;
    const int32_t half = (int32_t)((uint32_t)1 << (e - 1));
    const uint32_t al = (uint32_t)acc & 0xFFFFu;
    const int32_t ah = ekd_floor_shift_right_s32(acc, 16);
    const uint32_t t = al * (uint32_t)m_lo;
    const uint32_t u = al * (uint32_t)m_hi + (t >> 16);
    const int32_t v = ah * m_lo + (int32_t)(u & 0xFFFFu);
    const int32_t h = ah * m_hi + (int32_t)(u >> 16) + ekd_floor_shift_right_s32(v, 16);
    const uint32_t low = ((uint32_t)v << 16) | (t & 0xFFFFu);
    const int32_t high = 2 * h + (int32_t)(((low >> 1) + 0x20000000u) >> 30);
    return ekd_floor_shift_right_s32(high + half - (acc < 0 ? 1 : 0), e);
}

/* The short path's formula; the caller has checked (uint32_t)acc + 2^15 < short_limit. */
static inline __attribute__((always_inline)) int32_t
ekd_requantize_v6m_short(int32_t acc, int32_t m_lo, int32_t m_hi, int32_t round, int32_t shift)
{
    const int32_t a = acc * m_hi;
    const int32_t b = ekd_s32_from_bits((uint32_t)acc * (uint32_t)m_lo);
    const int32_t n = (int32_t)(((uint32_t)acc >> 31) << 15);
    return ekd_floor_shift_right_s32(a + ekd_floor_shift_right_s32(b, 16) + round - n, shift);
}

/* The short path for 0 < acc < 2^15 (the caller has checked acc < short_limit_positive):
 * n = 0. */
static inline __attribute__((always_inline)) int32_t
ekd_requantize_v6m_short_positive(int32_t acc, int32_t m_lo, int32_t m_hi, int32_t round,
                                  int32_t shift)
{
    const int32_t a = acc * m_hi;
    const int32_t b = acc * m_lo; /* < 2^31: acc < 2^15, m_lo < 2^16 */
    return (a + (b >> 16) + round) >> shift;
}

/* ekd_requantize_fast(acc, multiplier, right_shift, half) under its preconditions. */
static inline __attribute__((always_inline)) int32_t
ekd_requantize_v6m(int32_t acc, const ekd_requant_v6m *r)
{
    if ((uint32_t)acc + (uint32_t)EKD_REQUANT_V6M_SHORT_ACC < r->short_limit) {
        return ekd_requantize_v6m_short(acc, r->m_lo, r->m_hi, r->short_round, r->short_shift);
    }
    return ekd_requantize_v6m_long(acc, r->multiplier, r->shift);
}

/* ekd_requantize_v6m for acc > 0. */
static inline __attribute__((always_inline)) int32_t
ekd_requantize_v6m_positive(int32_t acc, const ekd_requant_v6m *r)
{
    if ((uint32_t)acc < r->short_limit_positive) {
        return ekd_requantize_v6m_short_positive(acc, r->m_lo, r->m_hi, r->short_round,
                                                 r->short_shift);
    }
    return ekd_requantize_v6m_long(acc, r->multiplier, r->shift);
}

#endif /* EDGEKD_EKD_REQUANTIZE_V6M_H */
