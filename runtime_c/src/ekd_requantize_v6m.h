/*
 * ekd_requantize.h's fast requantization for Armv6-M (internal): the same bytes, without
 * the 64-bit product, which a Cortex-M0 (MULS: 32 x 32 -> low 32 bits only) computes by
 * a call to the library's general 64 x 64 multiply.
 *
 * ekd_requantize_fast needs hi = floor((acc * m + 2^30) / 2^31) (the high word of
 * SMMULR(2 * acc, m)) for |acc| < 2^30 and 0 <= m < 2^31. With acc = ah * 2^16 + al and
 * m = mh * 2^16 + ml (al, ml in [0, 2^16), ah = acc >> 16 in [-2^14, 2^14], mh < 2^15):
 *     t = al * ml                       (unsigned, < 2^32)
 *     u = al * mh + (t >> 16)           (unsigned, < 2^31 + 2^16)
 *     v = ah * ml + (u & 0xFFFF)        (signed, |v| < 2^30 + 2^16)
 *     acc * m = 2^32 * H + L,  H = ah * mh + (u >> 16) + (v >> 16),
 *                              L = (v & 0xFFFF) * 2^16 + (t & 0xFFFF) in [0, 2^32)
 *     hi = 2 * H + floor((L + 2^30) / 2^31) = 2 * H + ((L >> 1) + 2^29) >> 30.
 * No partial product leaves the int32/uint32 range; four MULS in all. The rest is
 * ekd_requantize_fast_general's rounding shift. tests/runtime_c/test_kernels_m0.py runs
 * it on the Cortex-M0 against the reference.
 */
#ifndef EDGEKD_EKD_REQUANTIZE_V6M_H
#define EDGEKD_EKD_REQUANTIZE_V6M_H

#include <stdint.h>

#include "ekd_fixedpoint.h"

/* One output channel's multiplier split for ekd_requantize_v6m, and its shift. */
typedef struct {
    int32_t m_lo, m_hi; /* multiplier & 0xFFFF, multiplier >> 16 */
    int32_t right_shift; /* 1..31, ekd_requantize_fast_shift */
    int32_t half;        /* 2^(right_shift - 1) */
} ekd_requant_v6m;

static inline ekd_requant_v6m ekd_requant_v6m_make(int32_t multiplier, int32_t shift)
{
    ekd_requant_v6m r;
    r.m_lo = (int32_t)((uint32_t)multiplier & 0xFFFFu);
    r.m_hi = (int32_t)((uint32_t)multiplier >> 16);
    r.right_shift = multiplier == 0 ? 1 : -shift;
    r.half = (int32_t)((uint32_t)1 << (r.right_shift - 1));
    return r;
}

/* ekd_requantize_fast(acc, multiplier, right_shift, half) under its preconditions. */
static inline int32_t ekd_requantize_v6m(int32_t acc, const ekd_requant_v6m *r)
{
    const uint32_t al = (uint32_t)acc & 0xFFFFu;
    const int32_t ah = ekd_floor_shift_right_s32(acc, 16);
    const uint32_t t = al * (uint32_t)r->m_lo;
    const uint32_t u = al * (uint32_t)r->m_hi + (t >> 16);
    const int32_t v = ah * r->m_lo + (int32_t)(u & 0xFFFFu);
    const int32_t h = ah * r->m_hi + (int32_t)(u >> 16) + ekd_floor_shift_right_s32(v, 16);
    const uint32_t low = ((uint32_t)v << 16) | (t & 0xFFFFu);
    const int32_t high = 2 * h + (int32_t)(((low >> 1) + 0x20000000u) >> 30);
    return ekd_floor_shift_right_s32(high + r->half - (acc < 0 ? 1 : 0), r->right_shift);
}

#endif /* EDGEKD_EKD_REQUANTIZE_V6M_H */
