/*
 * TFLM's int8 ADD in the fast form (internal): shared by ekd_add_fast_s8 and the residual
 * ADD the convolutions fuse into their output (ekd_conv2d_direct_s8, ekd_conv2d_winograd_s8,
 * ekd_conv2d_direct_s8_mve). One element at a time (ekd_add_element), or a run of values
 * (ekd_add_run, ekd_add_run.c: the loop every scalar caller shares).
 *
 * TFLM's int8 ADD has left_shift 20, and the offsets are at most 255 in magnitude, so
 * |(x + offset) << 20| < 383 * 2^20 < 2^29, each rescaled input is at most that
 * (multipliers below one) and their sum stays below 2^30: every accumulator is inside the
 * fast requantization's range (ekd_requantize.h). The input with the larger scale has the
 * multiplier 2^30 with shift 0 (a real 1/2).
 *
 * The half form (ekd_add_run's fast loop; conditions in ekd_add_half_input): one input,
 * "h", is the half input (multiplier 2^30, shift 0), the other, "o", rounds (right shift
 * e_o >= 1), left_shift is TFLM's 20 (the shifts become constants), the output's right
 * shift e is at most 22 and activation_max is 127. Write hi(p) = floor((p + 2^31) / 2^32)
 * (SMMLAR's rounded high word; the portable path takes it from a 64-bit product). Then,
 * exactly:
 *   - h's rescale SRDHM(t, 2^30), t = (x_h << 20) + (offset_h << 20), is t / 2: t is even,
 *     so t * 2^30 is a multiple of 2^31 and gemmlowp's nudge never carries. With shift 0
 *     there is no rounding division.
 *   - o's rescale is ekd_requantize_fast of (x_o << 20) + (offset_o << 20): its doubled
 *     operand d_o = (x_o << 21) + 2 * (offset_o << 20) (|d_o| < 2^30), and
 *     s_o = floor((hi(d_o * m_o) + 2^(e_o - 1) - [d_o < 0]) / 2^e_o), a doubled operand
 *     having the sign of its value.
 *   - the output requantization starts by doubling the sum t / 2 + s_o, where
 *     |t / 2| < 2^28 and |s_o| < 2^28 (m_o < 2^31 and e_o >= 1 halve it at least): its
 *     operand is d = t + 2 * s_o (|d| < 2^30), the sum's sign again, and
 *     v = floor((hi(d * m) + 2^(e - 1) - [d < 0]) / 2^e) + offset. The offset rides in the
 *     rounding term: floor((y + offset * 2^e) / 2^e) = floor(y / 2^e) + offset, and
 *     |hi(d * m)| < 2^29 (m < 2^31), 2^(e - 1) <= 2^21 and |offset * 2^e| <= 255 * 2^22
 *     < 2^30 keep the sum inside int32 for e <= 22.
 *   - clamp(v, lo, 127) is the saturation to int8 (SSAT) and then the lower bound alone
 *     (lo >= -128).
 * Term for term ekd_add_element's bytes; TFLM's sum commutes, so either input may be h.
 */
#ifndef EDGEKD_EKD_ADD_FAST_H
#define EDGEKD_EKD_ADD_FAST_H

#include <stdint.h>

#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_requantize.h"
#include "ekd_validate.h"

/* One input's rescale: offset added (pre-shifted), multiplier, rounding. */
typedef struct {
    int32_t offset_shifted; /* offset << left_shift: (x << left_shift) + this */
    int32_t multiplier, right_shift, half;
    uint32_t round_negatives;
} ekd_add_input;

/* An ADD's parameters in the form the element function uses. */
typedef struct {
    ekd_add_input in1, in2;
    int32_t left_shift;
    int32_t out_multiplier, out_right_shift, out_half, out_offset;
    int32_t activation_min, activation_max;
    int32_t half_input; /* 1 or 2: that input is h and ekd_add_run's half form applies;
                         * 0: the general form */
} ekd_add_prepared;

/* What the fast form needs: TFLM's int8 ADD preparation (left_shift <= 20, multipliers
 * >= 0, input shifts <= 0, output shift <= -1) and valid offsets and clamp. */
static inline int ekd_add_fast_valid(const ekd_add_params *p)
{
    return p != NULL && ekd_offset_valid(p->input1_offset) &&
           ekd_offset_valid(p->input2_offset) && ekd_offset_valid(p->output_offset) &&
           p->left_shift >= 0 && p->left_shift <= 20 && p->input1_multiplier >= 0 &&
           p->input1_shift >= EKD_SHIFT_MIN && p->input1_shift <= 0 &&
           p->input2_multiplier >= 0 && p->input2_shift >= EKD_SHIFT_MIN &&
           p->input2_shift <= 0 && p->output_multiplier >= 0 &&
           p->output_shift >= EKD_SHIFT_MIN && p->output_shift <= -1 &&
           ekd_activation_valid(p->activation_min, p->activation_max);
}

/* Which input the half form takes as h (1 or 2), 0 where it does not apply (the
 * conditions above, on TFLM's parameters). */
static inline int32_t ekd_add_half_input(const ekd_add_params *p)
{
    if (p->left_shift != 20 || p->output_shift < -22 || p->activation_max != 127) {
        return 0;
    }
    if (p->input1_multiplier == (int32_t)1 << 30 && p->input1_shift == 0 &&
        p->input2_shift <= -1) {
        return 1;
    }
    if (p->input2_multiplier == (int32_t)1 << 30 && p->input2_shift == 0 &&
        p->input1_shift <= -1) {
        return 2;
    }
    return 0;
}

static inline ekd_add_input ekd_add_input_of(int32_t offset, int32_t multiplier,
                                             int32_t shift, int32_t left_shift)
{
    ekd_add_input in;
    in.offset_shifted = ekd_wrapping_shift_left_s32(offset, left_shift);
    in.multiplier = multiplier;
    in.right_shift = -shift;
    in.half = shift < 0 ? (int32_t)((uint32_t)1 << (-shift - 1)) : 0;
    in.round_negatives = shift < 0 ? 1u : 0u;
    return in;
}

/* Precondition: ekd_add_fast_valid(p). */
static inline ekd_add_prepared ekd_add_prepare(const ekd_add_params *p)
{
    ekd_add_prepared a;
    a.in1 = ekd_add_input_of(p->input1_offset, p->input1_multiplier, p->input1_shift,
                             p->left_shift);
    a.in2 = ekd_add_input_of(p->input2_offset, p->input2_multiplier, p->input2_shift,
                             p->left_shift);
    a.left_shift = p->left_shift;
    a.out_multiplier = p->output_multiplier;
    a.out_right_shift = -p->output_shift;
    a.out_half = (int32_t)((uint32_t)1 << (a.out_right_shift - 1));
    a.out_offset = p->output_offset;
    a.activation_min = p->activation_min;
    a.activation_max = p->activation_max;
    a.half_input = ekd_add_half_input(p);
    return a;
}

static inline int32_t ekd_add_rescale(int32_t x, const ekd_add_input *in, int32_t left_shift)
{
    const int32_t shifted = ekd_wrapping_shift_left_s32(x, left_shift) + in->offset_shifted;
    return ekd_requantize_fast_general(shifted, in->multiplier, in->right_shift, in->half,
                                       in->round_negatives);
}

/* The ADD's output for inputs x1 (input 1) and x2 (input 2): ekd_add_s8's byte. */
static inline int8_t ekd_add_element(const ekd_add_prepared *a, int32_t x1, int32_t x2)
{
    const int32_t sum = ekd_add_rescale(x1, &a->in1, a->left_shift) +
                        ekd_add_rescale(x2, &a->in2, a->left_shift);
    const int32_t v = ekd_requantize_fast(sum, a->out_multiplier, a->out_right_shift,
                                          a->out_half) + a->out_offset;
    return (int8_t)ekd_clamp_s32(v, a->activation_min, a->activation_max);
}

/* *a = ekd_add_prepare(p), out of line (ekd_add_run.c): one copy for every caller of
 * ekd_add_run. */
void ekd_add_prepare_run(ekd_add_prepared *a, const ekd_add_params *p);

/* out[i] = ADD(in1[i], in2[i]) for i < count (ekd_add_run.c): ekd_add_element's bytes, in
 * the half form where a->half_input says so. Both inputs' values are read before out[i] is
 * written, and the loop goes forward: out may be in1 or in2 (not a shifted copy). */
void ekd_add_run(const ekd_add_prepared *a, const int8_t *in1, const int8_t *in2,
                 int8_t *out, int32_t count);

#endif /* EDGEKD_EKD_ADD_FAST_H */
