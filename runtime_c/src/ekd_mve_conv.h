/*
 * Helium (MVE) building blocks of the convolution kernels (internal). Include only where
 * EKD_HAVE_MVE is 1.
 *
 * An output pixel's window (the kernel_h * kernel_w * in_c input values it reads, padded
 * taps holding the input zero point) is dotted with every output channel's filter row,
 * padded with zeros to whole 16-byte vectors ("depth16"): VMLADAVA sums sixteen int8
 * products into an int32 register per instruction, wrapping as the portable kernels'
 * int32 sums do. Accumulators start at zero and get the folded bias (bias + input_offset
 * * sum of the channel's weights, computed offline) added, so the inner loops multiply
 * raw int8 values.
 */
#ifndef EDGEKD_EKD_MVE_CONV_H
#define EDGEKD_EKD_MVE_CONV_H

#include <arm_mve.h>
#include <stdint.h>

#include "edgekd/ekd.h"
#include "ekd_mve_fixedpoint.h"

/* For GCC: compile the innermost loops without the first instruction scheduling pass,
 * which hoists loads until the eight vector registers spill (GCC 12). */
#if defined(__GNUC__) && !defined(__clang__)
#define EKD_MVE_NO_SCHEDULE __attribute__((optimize("no-schedule-insns")))
#else
#define EKD_MVE_NO_SCHEDULE
#endif

/* Makes a vector accumulator's value materialize where this stands (an empty asm that
 * takes it in and out of a register), so that GCC keeps a chain of multiply-adds in
 * order instead of computing every product first and spilling them. No instruction. */
#if defined(__GNUC__) && !defined(__clang__)
#define EKD_MVE_KEEP(v) __asm__("" : "+w"(v))
#else
#define EKD_MVE_KEEP(v) ((void)0)
#endif

/* Bytes of a window or filter row padded to whole vectors. */
static inline int32_t ekd_mve_depth16(int32_t depth)
{
    return (depth + 15) / 16 * 16;
}

/* What requantization and the store need, loop-invariant. */
typedef struct {
    const int32_t *folded_bias;
    const int32_t *multiplier;
    const int32_t *shift;
    int32_t output_offset, activation_min, activation_max;
    int right_only; /* every shift <= 0 */
} ekd_mve_output_stage;

/* The output stage of `channels` channels with these output offset and clamp (a
 * convolution's or a fully connected layer's). */
static inline ekd_mve_output_stage ekd_mve_output_stage_make(const ekd_per_channel_quant *quant,
                                                             const int32_t *folded_bias,
                                                             int32_t channels,
                                                             int32_t output_offset,
                                                             int32_t activation_min,
                                                             int32_t activation_max)
{
    ekd_mve_output_stage s;
    s.folded_bias = folded_bias;
    s.multiplier = quant->multiplier;
    s.shift = quant->shift;
    s.output_offset = output_offset;
    s.activation_min = activation_min;
    s.activation_max = activation_max;
    s.right_only = ekd_mve_shifts_right_only(quant->shift, channels);
    return s;
}

static inline ekd_mve_output_stage ekd_mve_output_stage_of(const ekd_conv_params *params,
                                                           const ekd_per_channel_quant *quant,
                                                           const int32_t *folded_bias,
                                                           int32_t channels)
{
    return ekd_mve_output_stage_make(quant, folded_bias, channels, params->output_offset,
                                     params->activation_min, params->activation_max);
}

/* Folded bias, requantization, offset and clamp of channels oc .. oc + 3, stored to
 * out[oc ..] (`lanes` of them). */
static inline __attribute__((always_inline)) void ekd_mve_store4(
    const ekd_mve_output_stage *s, int32_t a0, int32_t a1, int32_t a2, int32_t a3, int32_t oc,
    int8_t *out, mve_pred16_t lanes, const int right_only)
{
    int32x4_t v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    v = vsetq_lane_s32(a3, v, 3);
    v = vaddq_s32(v, vldrwq_z_s32(s->folded_bias + oc, lanes));
    if (right_only) {
        v = ekd_mve_requantize_right(v, vldrwq_z_s32(s->multiplier + oc, lanes),
                                     vldrwq_z_s32(s->shift + oc, lanes));
    } else {
        v = ekd_mve_requantize(v, vldrwq_z_s32(s->multiplier + oc, lanes),
                               vldrwq_z_s32(s->shift + oc, lanes));
    }
    v = ekd_mve_offset_clamp(v, s->output_offset, s->activation_min, s->activation_max);
    vstrbq_p_s32(out + oc, v, lanes);
}

/* Pixels per block of the convolution kernels. */
#define EKD_MVE_BLOCK_PIXELS 4

/*
 * Blocks: four output pixels' windows interleaved by vector in scratch,
 * [depth16 / 16][4 pixels][16 bytes], so that one pointer with immediate offsets reads
 * the four pixels' slices of the same 16 weights.
 */

/* Writes n bytes from src at byte k of pixel `pixel`'s window in a block. */
static inline void ekd_mve_block_put(int8_t *block, int32_t pixel, int32_t k,
                                     const int8_t *src, int32_t n)
{
    while (n > 0) {
        const int32_t lane = k & 15;
        const int32_t piece = n < 16 - lane ? n : 16 - lane;
        int8_t *dst = block + (k >> 4) * (16 * EKD_MVE_BLOCK_PIXELS) + pixel * 16 + lane;
        if (piece == 16) {
            vstrbq_s8(dst, vldrbq_s8(src));
        } else {
            const mve_pred16_t part = vctp8q((uint32_t)piece);
            vstrbq_p_s8(dst, vldrbq_z_s8(src, part), part);
        }
        src += piece;
        k += piece;
        n -= piece;
    }
}

/* Fills n bytes at byte k of pixel `pixel`'s window with `value`. */
static inline void ekd_mve_block_fill(int8_t *block, int32_t pixel, int32_t k, int8x16_t value,
                                      int32_t n)
{
    while (n > 0) {
        const int32_t lane = k & 15;
        const int32_t piece = n < 16 - lane ? n : 16 - lane;
        int8_t *dst = block + (k >> 4) * (16 * EKD_MVE_BLOCK_PIXELS) + pixel * 16 + lane;
        vstrbq_p_s8(dst, value, vctp8q((uint32_t)piece));
        k += piece;
        n -= piece;
    }
}

/* Requantize, offset, clamp and store one output channel's four values (pixels
 * i * out_c apart); `all` (a constant after inlining): all four pixels are stored. */
static inline __attribute__((always_inline)) void ekd_mve_store_channel(
    const ekd_mve_output_stage *s, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
    int32_t oc, int8_t *out, uint32x4_t offsets, mve_pred16_t valid, const int all)
{
    int32x4_t v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    v = vsetq_lane_s32(a3, v, 3);
    v = vaddq_n_s32(v, s->folded_bias[oc]);
    v = ekd_mve_requantize_n(v, s->multiplier[oc], s->shift[oc]);
    v = ekd_mve_offset_clamp(v, s->output_offset, s->activation_min, s->activation_max);
    if (all) {
        vstrbq_scatter_offset_s32(out + oc, offsets, v);
    } else {
        vstrbq_scatter_offset_p_s32(out + oc, offsets, v, valid);
    }
}

/*
 * Four pixels (a block of `chunks` vectors each), every output channel, two channels per
 * pass over the block: each 16-byte slice of the four windows is loaded once and
 * multiplied with both channels' weights. Results go to out[i * out_c + oc] for the
 * first `count` pixels. All reads of the input happened when the block was filled.
 */
static inline __attribute__((always_inline)) void ekd_mve_block_conv_n(
    const ekd_mve_output_stage *s, const int8_t *block, int32_t chunks, const int8_t *filter,
    int8_t *out, int32_t out_c, int32_t count, const int all)
{
    const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0u, 1), (uint32_t)out_c);
    const mve_pred16_t valid = vctp32q((uint32_t)count);
    const int32_t row = 16 * chunks;
    const int8_t *w = filter;
    int32_t oc;
    for (oc = 0; oc + 2 <= out_c; oc += 2) {
        const int8_t *x = block;
        const int8_t *w0 = w;
        const int8_t *w1 = w + row;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        int32_t c;
        for (c = 0; c < chunks; ++c) {
            const int8x16_t v0 = vldrbq_s8(w0);
            const int8x16_t v1 = vldrbq_s8(w1);
            const int8x16_t x0 = vldrbq_s8(x);
            const int8x16_t x1 = vldrbq_s8(x + 16);
            const int8x16_t x2 = vldrbq_s8(x + 32);
            const int8x16_t x3 = vldrbq_s8(x + 48);
            a0 = vmladavaq_s8(a0, x0, v0);
            b0 = vmladavaq_s8(b0, x0, v1);
            a1 = vmladavaq_s8(a1, x1, v0);
            b1 = vmladavaq_s8(b1, x1, v1);
            a2 = vmladavaq_s8(a2, x2, v0);
            b2 = vmladavaq_s8(b2, x2, v1);
            a3 = vmladavaq_s8(a3, x3, v0);
            b3 = vmladavaq_s8(b3, x3, v1);
            x += 64;
            w0 += 16;
            w1 += 16;
        }
        ekd_mve_store_channel(s, a0, a1, a2, a3, oc, out, offsets, valid, all);
        ekd_mve_store_channel(s, b0, b1, b2, b3, oc + 1, out, offsets, valid, all);
        w += 2 * row;
    }
    if (oc < out_c) {
        const int8_t *x = block;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int32_t c;
        for (c = 0; c < chunks; ++c) {
            const int8x16_t v0 = vldrbq_s8(w);
            a0 = vmladavaq_s8(a0, vldrbq_s8(x), v0);
            a1 = vmladavaq_s8(a1, vldrbq_s8(x + 16), v0);
            a2 = vmladavaq_s8(a2, vldrbq_s8(x + 32), v0);
            a3 = vmladavaq_s8(a3, vldrbq_s8(x + 48), v0);
            x += 64;
            w += 16;
        }
        ekd_mve_store_channel(s, a0, a1, a2, a3, oc, out, offsets, valid, all);
    }
}

/* Four pixels' block through every output channel (see ekd_mve_block_conv_n); on its own
 * and not pre-scheduled, which keeps GCC from spilling. */
static __attribute__((noinline, unused)) EKD_MVE_NO_SCHEDULE void ekd_mve_block_conv(
    const ekd_mve_output_stage *s, const int8_t *block, int32_t chunks, const int8_t *filter,
    int8_t *out, int32_t out_c, int32_t count)
{
    if (count == EKD_MVE_BLOCK_PIXELS) {
        ekd_mve_block_conv_n(s, block, chunks, filter, out, out_c, count, 1);
    } else {
        ekd_mve_block_conv_n(s, block, chunks, filter, out, out_c, count, 0);
    }
}

/* n bytes from src to dst, whole vectors then a predicated tail. */
static inline void ekd_mve_copy_s8(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 16; n -= 16) {
        vstrbq_s8(dst, vldrbq_s8(src));
        dst += 16;
        src += 16;
    }
    if (n > 0) {
        const mve_pred16_t tail = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, tail), tail);
    }
}

/* n bytes of `value` at dst. */
static inline void ekd_mve_fill_s8(int8_t *dst, int8x16_t value, int32_t n)
{
    for (; n >= 16; n -= 16) {
        vstrbq_s8(dst, value);
        dst += 16;
    }
    if (n > 0) {
        vstrbq_p_s8(dst, value, vctp8q((uint32_t)n));
    }
}

#endif /* EDGEKD_EKD_MVE_CONV_H */
