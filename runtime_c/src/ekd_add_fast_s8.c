/*
 * ADD, int8, elementwise: the same bytes as ekd_add_s8 (TFLM's AddElementwise) with the
 * three MultiplyByQuantizedMultiplier steps done by ekd_requantize_fast_general (SMMLAR on
 * Arm DSP cores), element by element as ekd_add_fast.h has it. The input with the larger
 * scale has the multiplier 2^30 with shift 0 (a real 1/2): its rescale is one SMMLAR, and
 * the loop is specialized for that.
 */
#include "edgekd/ekd.h"
#include "ekd_add_fast.h"

/* The loop, with `first_is_half` a constant at each call so the compiler drops the
 * rounding division of input 1 when its shift is 0. */
static inline void ekd_add_loop(const ekd_add_params *p, int32_t size, const int8_t *input1,
                                const int8_t *input2, int8_t *output, ekd_add_input in1,
                                ekd_add_input in2, int first_is_half)
{
    const int32_t left_shift = p->left_shift;
    const int32_t out_multiplier = p->output_multiplier;
    const int32_t out_right_shift = -p->output_shift;
    const int32_t out_half = (int32_t)((uint32_t)1 << (out_right_shift - 1));
    const int32_t out_offset = p->output_offset;
    const int32_t lo = p->activation_min, hi = p->activation_max;
    int32_t i;
    if (first_is_half) {
        in1.right_shift = 0;
        in1.half = 0;
        in1.round_negatives = 0u;
    }
    for (i = 0; i < size; ++i) {
        const int32_t sum = ekd_add_rescale(input1[i], &in1, left_shift) +
                            ekd_add_rescale(input2[i], &in2, left_shift);
        const int32_t v = ekd_requantize_fast(sum, out_multiplier, out_right_shift, out_half) +
                          out_offset;
        /* Both inputs are read before the write: output may alias either. */
        output[i] = (int8_t)ekd_clamp_s32(v, lo, hi);
    }
}

ekd_status ekd_add_fast_s8(const ekd_add_params *params, int32_t size,
                           const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const ekd_add_params *p = params;
    ekd_add_input in1, in2;

    if (!ekd_add_fast_valid(p) || input1 == NULL || input2 == NULL || output == NULL ||
        size < 0) {
        return EKD_ERROR_ARGUMENT;
    }
    in1 = ekd_add_input_of(p->input1_offset, p->input1_multiplier, p->input1_shift,
                           p->left_shift);
    in2 = ekd_add_input_of(p->input2_offset, p->input2_multiplier, p->input2_shift,
                           p->left_shift);
    if (p->input1_shift == 0) {
        ekd_add_loop(p, size, input1, input2, output, in1, in2, 1);
    } else if (p->input2_shift == 0) {
        ekd_add_loop(p, size, input2, input1, output, in2, in1, 1); /* the sum commutes */
    } else {
        ekd_add_loop(p, size, input1, input2, output, in1, in2, 0);
    }
    return EKD_OK;
}
