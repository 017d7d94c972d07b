/*
 * TFLM's int8 ADD, one element at a time, in the fast form (internal): shared by
 * ekd_add_fast_s8 and the residual ADD the direct convolutions fuse into their output
 * (ekd_conv2d_direct_s8, ekd_conv2d_direct_s8_mve).
 *
 * TFLM's int8 ADD has left_shift 20, so |(x + offset) << 20| < 2^28, each rescaled input
 * is at most that (multipliers below one) and their sum stays below 2^29: every
 * accumulator is inside the fast requantization's range (ekd_requantize.h). The input
 * with the larger scale has the multiplier 2^30 with shift 0 (a real 1/2).
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

#endif /* EDGEKD_EKD_ADD_FAST_H */
