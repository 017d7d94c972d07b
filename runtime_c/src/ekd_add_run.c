/*
 * ekd_add_run (internal, declared in ekd_add_fast.h): TFLM's int8 ADD over a run of
 * values, the one loop of the ADD layer (ekd_add_fast_s8) and of the residual ADDs the
 * convolutions fuse into their output (ekd_conv2d_direct_s8's DSP path,
 * ekd_conv2d_winograd_add_s8), and ekd_add_prepare_run, their one copy of the ADD's
 * preparation. One copy in a firmware however many kernels call them.
 *
 * The loops, chosen once per run:
 *   - the half form (ekd_add_fast.h has its conditions and why it is exact): per value
 *     two rounded high multiplies, the offsets and the output offset folded into
 *     constants, the clamp one saturation and, where activation_min is above -128 (a
 *     second copy of the loop), the lower bound. Arm DSP: SMMLAR and SSAT; portable C:
 *     the same arithmetic on a 64-bit product, written for SMLAL and SSAT on the
 *     Cortex-M3 (EKD_ADD_SMLAL), for MUL and MULH elsewhere (RV32, the host);
 *   - the general form with one input at shift 0 (its rescale drops the rounding
 *     division): TFLM's parameters outside the half form's conditions (an activation_max
 *     below 127, equal scales, an output shift past 22);
 *   - the general form: ekd_add_element per value, constants hoisted.
 * The sum commutes (int32 addition), so the input taken as the half one (or the one at
 * shift 0) is read through the first pointer of its loop, whichever it is in TFLM's order.
 * Measured (instructions per value under QEMU -icount, ekd_add_fast_s8 over 16,384
 * values, TFLM's ResNet-like parameters, activation_min -128 / above): Cortex-M4 17 / 20,
 * Cortex-M3 19 / 23, RV32 31.5-32, where the element-wise loop took 36-38, 39-42, 40-41.
 *
 * Code size: a run is called with counts of 4 to thousands, so the loops are not unrolled
 * (ekd_add_run and its two general loops are about 730 bytes of Cortex-M4 code,
 * ekd_add_prepare_run 220).
 */
#include <stddef.h>
#include <stdint.h>

#include "edgekd/ekd.h"
#include "ekd_add_fast.h"
#include "ekd_dsp.h"
#include "ekd_fixedpoint.h"
#include "ekd_requantize.h"

/* Portable C on Armv7-M without the DSP extension (Cortex-M3): the same arithmetic,
 * written for SMLAL, and SSAT (a base Armv7-M instruction) for the saturation. */
#if !EKD_ARM_DSP && defined(__ARM_ARCH_7M__) && defined(__ARM_FEATURE_SAT)
#define EKD_ADD_SMLAL 1
#include <arm_acle.h>
#else
#define EKD_ADD_SMLAL 0
#endif

#if defined(__GNUC__)
#define EKD_ADD_ALWAYS_INLINE static inline __attribute__((always_inline))
#define EKD_ADD_NOINLINE __attribute__((noinline))
#else
#define EKD_ADD_ALWAYS_INLINE static inline
#define EKD_ADD_NOINLINE
#endif

/* floor((hi(doubled * multiplier) + round - [doubled < 0]) / 2^right_shift), hi the
 * rounded high word (ekd_add_fast.h): ekd_requantize_fast_general's arithmetic on an
 * operand already doubled, with the rounding term given (2^(right_shift - 1), plus the
 * output offset times 2^right_shift for the output). */
EKD_ADD_ALWAYS_INLINE int32_t ekd_add_half_step(int32_t doubled, int32_t multiplier,
                                                int32_t round, int32_t right_shift)
{
    const int32_t r = round - (int32_t)((uint32_t)doubled >> 31);
#if EKD_ARM_DSP
    return ekd_floor_shift_right_s32(ekd_smmlar(doubled, multiplier, r), right_shift);
#elif EKD_ADD_SMLAL
    /* hi(p) + r = the high word of p + r * 2^32 + 2^31: one SMLAL with r and 2^31 as its
     * accumulator, where the form below takes SMULL and two additions. */
    const uint64_t sum = (uint64_t)((int64_t)doubled * multiplier) +
                         (((uint64_t)(uint32_t)r << 32) | 0x80000000u);
    return ekd_floor_shift_right_s32(ekd_s32_from_bits((uint32_t)(sum >> 32)), right_shift);
#else
    /* The rounding bit is bit 31 of the low word (RV32: MUL and MULH, no carry flag). */
    const uint64_t product = (uint64_t)((int64_t)doubled * multiplier);
    const int32_t high = ekd_s32_from_bits((uint32_t)(product >> 32)) +
                         (int32_t)((uint32_t)product >> 31);
    return ekd_floor_shift_right_s32(high + r, right_shift);
#endif
}

/* The half form: `xh` the half input's values (h), `xo` the other input's (o, whose
 * rescale is `o`). `lower` (a constant at each call): activation_min is above -128 (the
 * clamp's lower bound is more than the saturation's). */
EKD_ADD_ALWAYS_INLINE void ekd_add_half_loop(const ekd_add_prepared *a, const ekd_add_input *h,
                                             const ekd_add_input *o, const int8_t *xh,
                                             const int8_t *xo, int8_t *out, int32_t count,
                                             const int lower)
{
    /* Locals: the int8 stores may alias *a as far as the compiler knows. */
    const int32_t offset_h = h->offset_shifted;
    const int32_t offset_o = ekd_wrapping_shift_left_s32(o->offset_shifted, 1);
    const int32_t m_o = o->multiplier, e_o = o->right_shift, round_o = o->half;
    const int32_t m = a->out_multiplier, e = a->out_right_shift;
    const int32_t round = a->out_half + ekd_wrapping_shift_left_s32(a->out_offset, e);
    const int32_t lo = lower ? a->activation_min : -128;
    /* The pointers at the run's end and a negative index: the loop's test is the index's
     * increment. */
    ptrdiff_t i = -(ptrdiff_t)count;
    xo += count;
    xh += count;
    out += count;
    for (; i != 0; ++i) {
        const int32_t d_o = ekd_s32_from_bits((uint32_t)xo[i] << 21) + offset_o;
        const int32_t s_o = ekd_add_half_step(d_o, m_o, round_o, e_o);
        const int32_t d = ekd_s32_from_bits((uint32_t)xh[i] << 20) + offset_h + 2 * s_o;
        int32_t v = ekd_add_half_step(d, m, round, e);
        /* Both inputs are read before the write: out may alias either. */
#if EKD_ARM_DSP || EKD_ADD_SMLAL
        v = __ssat(v, 8);
        if (lower && v < lo) {
            v = lo;
        }
#else
        v = ekd_clamp_s32(v, lo, 127);
#endif
        out[i] = (int8_t)v;
    }
}

/* The general form; `first_is_half` (a constant at each call): x1's input has shift 0,
 * so its rescale has no rounding division. */
EKD_ADD_ALWAYS_INLINE void ekd_add_general_loop(const ekd_add_prepared *a, ekd_add_input in1,
                                                ekd_add_input in2, const int8_t *x1,
                                                const int8_t *x2, int8_t *out, int32_t count,
                                                const int first_is_half)
{
    const int32_t left_shift = a->left_shift;
    const int32_t m = a->out_multiplier, e = a->out_right_shift, round = a->out_half;
    const int32_t offset = a->out_offset;
    const int32_t lo = a->activation_min, hi = a->activation_max;
    int32_t i;
    if (first_is_half) {
        in1.right_shift = 0;
        in1.half = 0;
        in1.round_negatives = 0u;
    }
    for (i = 0; i < count; ++i) {
        const int32_t sum = ekd_add_rescale(x1[i], &in1, left_shift) +
                            ekd_add_rescale(x2[i], &in2, left_shift);
        const int32_t v = ekd_requantize_fast(sum, m, e, round) + offset;
        out[i] = (int8_t)ekd_clamp_s32(v, lo, hi);
    }
}

/* The general loops, each a function of its own: the registers are all its (measured on
 * the Cortex-M3, inlined into ekd_add_run they spill one more constant). */
static EKD_ADD_NOINLINE void ekd_add_general_first_half(const ekd_add_prepared *a,
                                                        const ekd_add_input *in1,
                                                        const ekd_add_input *in2,
                                                        const int8_t *x1, const int8_t *x2,
                                                        int8_t *out, int32_t count)
{
    ekd_add_general_loop(a, *in1, *in2, x1, x2, out, count, 1);
}

static EKD_ADD_NOINLINE void ekd_add_general(const ekd_add_prepared *a, const int8_t *x1,
                                             const int8_t *x2, int8_t *out, int32_t count)
{
    ekd_add_general_loop(a, a->in1, a->in2, x1, x2, out, count, 0);
}

void ekd_add_prepare_run(ekd_add_prepared *a, const ekd_add_params *p)
{
    *a = ekd_add_prepare(p);
}

void ekd_add_run(const ekd_add_prepared *a, const int8_t *in1, const int8_t *in2,
                 int8_t *out, int32_t count)
{
    if (a->half_input != 0) {
        /* One call site: h's and o's pointers and rescales picked first. */
        const int second = a->half_input == 2;
        const ekd_add_input *const h = second ? &a->in2 : &a->in1;
        const ekd_add_input *const o = second ? &a->in1 : &a->in2;
        const int8_t *const xh = second ? in2 : in1;
        const int8_t *const xo = second ? in1 : in2;
        if (a->activation_min == -128) {
            ekd_add_half_loop(a, h, o, xh, xo, out, count, 0); /* NONE, ReLU from -128 */
        } else {
            ekd_add_half_loop(a, h, o, xh, xo, out, count, 1);
        }
    } else if (a->in1.right_shift == 0 || a->in2.right_shift == 0) {
        const int second = a->in1.right_shift != 0;
        ekd_add_general_first_half(a, second ? &a->in2 : &a->in1, second ? &a->in1 : &a->in2,
                                   second ? in2 : in1, second ? in1 : in2, out, count);
    } else {
        ekd_add_general(a, in1, in2, out, count);
    }
}
