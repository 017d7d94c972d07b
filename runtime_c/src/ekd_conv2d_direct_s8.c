/*
 * CONV_2D read straight from its input: no im2col, no scratch, and optionally the
 * residual ADD that follows it fused into its output (ekd.h: ekd_conv2d_direct_s8).
 *
 * Why: a layer that keeps a residual input alive while it runs cannot also afford an
 * im2col block or Winograd tiles (ResNet-8's first residual block is the arena's peak).
 *
 * With in_c a multiple of 4 every group of four depth values lies inside one tap, so a
 * window's kernel row is kw * in_c contiguous input bytes, and the "rows4" filter
 * (ekd_mat_mult_s8.h) walks the same groups in the same order: one weight pointer and
 * one input pointer advance together along a kernel row. A window that reaches into the
 * padding reads only its taps inside the input; those form a rectangle of taps, each of
 * its kernel rows again contiguous in the input and in the filter. The bias comes folded
 * (bias + input_offset * sum of the channel's weights), so the taps that were not read
 * give back their folded share: acc = folded_bias - input_offset * sum of their tap_sums
 * + sum of the products read, in wrapping uint32 arithmetic: TFLM's accumulator exactly.
 *
 * Pixels go in raster order. Where EKD_DIRECT_PIXELS consecutive pixels of a row all
 * have their windows inside the input horizontally (they then share the same kernel
 * rows), they share one pass over the weights: two output channels x that many pixels of
 * accumulators per pass. Any other pixel goes alone through the same loop with its own
 * clipped rectangle. Each pass writes its two channels of its pixels as soon as they are
 * computed, and the next pass reads the windows again.
 *
 * Write order (edgekd/codegen/inplace.py): RasterOrder(group=EKD_DIRECT_PIXELS = 4,
 * reads_first=False) on every build: outputs are written channel pair by channel pair
 * while the group's windows are still read. The DSP build's paths stay inside it: its
 * scratch-free path passes over 2 pixels, its block path (below) reads a group of four
 * pixels' windows whole before it writes any of their outputs.
 *
 * Residual: output[i] = ADD(conv[i], residual->input[i]) (ekd_add_fast.h), the residual
 * byte read just before output[i] is written, so residual->input may be the output.
 *
 * Arm DSP (EKD_ARM_DSP) with the caller's scratch (ekd_conv2d_direct_s8_scratch_size: 8
 * bytes per window value, any window; optional): the block path (its comment below), four
 * pixels' windows unpacked to int16 once into the scratch, then 13 instructions per 16
 * MACs for every output channel. Without it (none, too little, misaligned), and for the
 * tensor's last 1-3 pixels: the scratch-free path, per group of four depth values one
 * LDRD of both channels' four weights (rows c and c + 1 are adjacent in a "rows4" block),
 * SXTB16 and SXTB16 ROR #8 unpacking weights and inputs alike into (v0, v2) and (v1, v3)
 * halfword pairs, SMLAD multiplying matching pairs; pixels alike clipped in pairs, the
 * channel-independent work of a pass done once. No kernel buffer on the stack but the
 * residual's chunk array.
 *
 * Code size (DSP): one function per stage, shared by every way of writing: one pass
 * function for one or two pixels, plain, clamped or with the residual (the differences
 * are branches in its output stage, once per channel pair, outside the inner loop); one
 * block path likewise; one residual stage (ekd_direct_add over ekd_add_run, ekd_add_run.c,
 * the loop the ADD layer and Winograd run too) that both call. About 4.3 KB of Cortex-M4 code in all, where a
 * copy per pixel count and way of writing took 11.8 KB
 * (the code counts against a model's flash like its weights). Portable C:
 * plain multiply-accumulate on int8 loads, two channels x four pixels (the registers of a
 * Cortex-M3); it has no block path and never touches the scratch.
 */
#include <stddef.h>
#include <stdint.h>

#include "edgekd/ekd.h"
#include "ekd_add_fast.h"
#include "ekd_conv_fast.h"
#include "ekd_dsp.h"
#include "ekd_fixedpoint.h"
#include "ekd_mat_mult_s8.h"
#include "ekd_requantize.h"

/* Pixels that share a pass over the weights (the write order's group is 4: the larger). */
#if EKD_ARM_DSP
#define EKD_DIRECT_PIXELS 2
#else
#define EKD_DIRECT_PIXELS 4
#endif

/* Longest window (kh * kw * in_c): keeps every product sum and index far inside int32. */
#define EKD_DIRECT_MAX_DEPTH 32768

/* The DSP block path's scratch for windows of `depth` values (a multiple of 4): four
 * columns of int16 values, 8 bytes per depth value (at most 256 KiB). */
#define EKD_DIRECT_BLOCK_BYTES(depth) ((int32_t)(depth) * 8)

/* What every pass needs, checked and prepared once per call. */
typedef struct {
    int32_t in_h, in_w, in_c, kernel_h, kernel_w;
    int32_t stride_h, stride_w, pad_h, pad_w;
    int32_t out_w, out_c;
    int32_t groups;      /* groups of four depth values in a window: kh * kw * in_c / 4 */
    int32_t row_groups;  /* in one kernel row: kw * in_c / 4 */
    const int8_t *filter;
    const int32_t *bias, *tap_sums;
    const ekd_per_channel_quant *quant;
    int32_t input_offset, output_offset, activation_min, activation_max;
    const ekd_add_prepared *add; /* the residual ADD's; NULL: no residual */
} ekd_direct_layer;

/* The taps of a window inside the input: kernel rows [ky0, ky1), columns [kx0, kx1);
 * `x` the input at the rectangle's first tap. */
typedef struct {
    const int8_t *x;
    int32_t ky0, ky1, kx0, kx1;
} ekd_direct_window;

/* Where a run of pixels reads and writes: the pixels are `step` input bytes apart. */
typedef struct {
    ekd_direct_window window;
    int32_t step;
    int32_t pixel;          /* first output pixel, counted from the start of the tensor */
    int8_t *output;         /* the output tensor */
    const int8_t *residual; /* residual->input, the output's shape; NULL: none */
} ekd_direct_pixels;

/* First and one-past-last kernel tap inside [0, size) for a window starting at `origin`. */
static inline void ekd_direct_clip(int32_t origin, int32_t kernel, int32_t size, int32_t *k0,
                                   int32_t *k1)
{
    int32_t lo = origin < 0 ? -origin : 0;
    int32_t hi = size - origin < kernel ? size - origin : kernel;
    if (lo > kernel) {
        lo = kernel;
    }
    if (hi < lo) {
        hi = lo;
    }
    *k0 = lo;
    *k1 = hi;
}

/* The channel's accumulator start: folded bias minus input_offset times the tap sums of
 * the taps outside the window's rectangle (wrapping, as TFLM's int32 sums). */
static inline uint32_t ekd_direct_base(const ekd_direct_layer *l, const ekd_direct_window *w,
                                       int32_t c)
{
    uint32_t outside = 0;
    int32_t ky, kx;
    if (w->ky0 != 0 || w->ky1 != l->kernel_h || w->kx0 != 0 || w->kx1 != l->kernel_w) {
        const int32_t *sums = l->tap_sums + c;
        for (ky = 0; ky < l->kernel_h; ++ky) {
            const int inside_row = ky >= w->ky0 && ky < w->ky1;
            for (kx = 0; kx < l->kernel_w; ++kx) {
                if (!inside_row || kx < w->kx0 || kx >= w->kx1) {
                    outside += (uint32_t)sums[(size_t)(ky * l->kernel_w + kx) * l->out_c];
                }
            }
        }
    }
    return (uint32_t)l->bias[c] - (uint32_t)l->input_offset * outside;
}

#if EKD_ARM_DSP

/* Channels whose convolution values wait in a stack array for the residual ADD (per
 * pixel: 128 bytes for the block path's four pixels, 64 for a pair). */
#define EKD_DIRECT_ADD_CHUNK 32

/* The one residual stage of every path (called once per pixel, or once per group of
 * pixels where a chunk holds every channel, and chunk of channels): out[i] = ADD(conv[i],
 * res[i]) by ekd_add_run (ekd_add_run.c, the ADD layer's loop: its half form, SMMLAR and
 * SSAT, is exact as ekd_add_fast.h argues), res[i] read before out[i] is written (they
 * may be one byte), with the ADD prepared once per call of the kernel (its frame). */
static inline void ekd_direct_add(const ekd_add_prepared *a, const int8_t *conv,
                                  const int8_t *res, int8_t *out, int32_t count)
{
    ekd_add_run(a, conv, res, out, count);
}

/* The scratch-free path. */

/* One group of four depth values for two channels and two pixels: LDRD of both rows'
 * weights, each unpacked once (even and odd halfword pairs), then per pixel one LDR, two
 * SXTB16 and four SMLADs. 19 instructions per 16 multiply-accumulates. */
#define EKD_DIRECT_GROUP2                                \
    "ldrd   %[w0], %[w1], [%[wp]], #16\n\t"              \
    "sxtb16 %[we], %[w0]\n\t"                            \
    "sxtb16 %[w0], %[w0], ror #8\n\t"                    \
    "sxtb16 %[ve], %[w1]\n\t"                            \
    "sxtb16 %[w1], %[w1], ror #8\n\t"                    \
    "ldr    %[x], [%[xp], %[step]]\n\t"                  \
    "sxtb16 %[xe], %[x]\n\t"                             \
    "sxtb16 %[x], %[x], ror #8\n\t"                      \
    "smlad  %[a10], %[we], %[xe], %[a10]\n\t"            \
    "smlad  %[a10], %[w0], %[x], %[a10]\n\t"             \
    "smlad  %[a11], %[ve], %[xe], %[a11]\n\t"            \
    "smlad  %[a11], %[w1], %[x], %[a11]\n\t"             \
    "ldr    %[x], [%[xp]], #4\n\t"                       \
    "sxtb16 %[xe], %[x]\n\t"                             \
    "sxtb16 %[x], %[x], ror #8\n\t"                      \
    "smlad  %[a00], %[we], %[xe], %[a00]\n\t"            \
    "smlad  %[a00], %[w0], %[x], %[a00]\n\t"             \
    "smlad  %[a01], %[ve], %[xe], %[a01]\n\t"            \
    "smlad  %[a01], %[w1], %[x], %[a01]\n\t"

#define EKD_DIRECT_GROUP2_OPERANDS                                                      \
    : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),               \
      [wp] "+r"(wp), [xp] "+r"(xp), [w0] "=&r"(w0), [w1] "=&r"(w1), [we] "=&r"(we),     \
      [ve] "=&r"(ve), [x] "=&r"(x), [xe] "=&r"(xe)                                      \
    : [step] "r"(step)                                                                  \
    : "memory"


static inline int32_t ekd_direct_smlad(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)__smlad((int16x2_t)a, (int16x2_t)b, acc);
}

/* acc[p][j] += the products of channels c + j (j < 2) and pixel p (p < `pixels`, 1 or 2)
 * over `rows` kernel rows of `run` groups: `wp` at the rectangle's first group of row c,
 * `xp` at the first pixel's first tap, the pixels `step` bytes apart; after a kernel row
 * the weights skip `w_skip` bytes and the input `x_skip`. */
static inline __attribute__((always_inline)) void
ekd_direct_dot(const int8_t *wp, const int8_t *xp, int32_t step, int32_t rows, int32_t run,
               int32_t w_skip, int32_t x_skip, int32_t acc[2][2], int32_t pixels)
{
    int32_t a00 = acc[0][0], a01 = acc[0][1], a10 = acc[1][0], a11 = acc[1][1];
    int32_t g;
    if (pixels > 1) {
        int32_t w0, w1, we, ve, x, xe;
        for (; rows > 0; --rows) {
            for (g = run >> 1; g > 0; --g) {
                __asm__ volatile(EKD_DIRECT_GROUP2 EKD_DIRECT_GROUP2
                                 EKD_DIRECT_GROUP2_OPERANDS);
            }
            if (run & 1) {
                __asm__ volatile(EKD_DIRECT_GROUP2 EKD_DIRECT_GROUP2_OPERANDS);
            }
            wp += w_skip;
            xp += x_skip;
        }
    } else {
        for (; rows > 0; --rows) {
            for (g = run; g > 0; --g) {
                const int32_t w0 = ekd_read_s8x4(wp), w1 = ekd_read_s8x4(wp + 4);
                const int32_t x0 = ekd_read_s8x4(xp);
                const int32_t x0e = ekd_sxtb16(x0), x0o = ekd_sxtb16_ror8(x0);
                a00 = ekd_direct_smlad(ekd_sxtb16(w0), x0e, a00);
                a00 = ekd_direct_smlad(ekd_sxtb16_ror8(w0), x0o, a00);
                a01 = ekd_direct_smlad(ekd_sxtb16(w1), x0e, a01);
                a01 = ekd_direct_smlad(ekd_sxtb16_ror8(w1), x0o, a01);
                wp += 16;
                xp += 4;
            }
            wp += w_skip;
            xp += x_skip;
        }
    }
    acc[0][0] = a00;
    acc[0][1] = a01;
    acc[1][0] = a10;
    acc[1][1] = a11;
}

/* `pixels` (1 or 2) pixels sharing one window rectangle, every output channel, two per
 * pass over the windows: one function for every pixel count and way of writing (the
 * int8-range clamp, any other clamp, the residual ADD), the differences runtime branches
 * in the output stage, once per channel pair, outside the inner loop. Everything a pass
 * needs that does not depend on the channel is computed here once; a window inside the
 * input starts each channel at its folded bias (no tap sums). With a residual the
 * convolution's values of up to EKD_DIRECT_ADD_CHUNK channels wait on the stack (pixel
 * after pixel, the chunk's channel count apart), then ekd_direct_add runs over them: over
 * the pixels at once where the chunk holds every channel (their outputs are adjacent),
 * pixel by pixel otherwise. */
static __attribute__((noinline)) void ekd_direct_pass(const ekd_direct_layer *l,
                                                      const ekd_direct_pixels *px,
                                                      int32_t pixels)
{
    const ekd_direct_window *const win = &px->window;
    /* Locals: the int8 stores could alias *l as far as the compiler knows. */
    const int8_t *const x = win->x;
    const int32_t *const bias = l->bias;
    const int32_t *const multipliers = l->quant->multiplier, *const shifts = l->quant->shift;
    const int32_t out_c = l->out_c, offset = l->output_offset;
    const int32_t lo = l->activation_min, hi = l->activation_max;
    const int int8_range = lo == -128 && hi == 127;
    const int32_t step = px->step, rows = win->ky1 - win->ky0;
    const int32_t run = (win->kx1 - win->kx0) * (l->in_c >> 2);
    const int32_t w_skip = (l->row_groups - run) * 16, x_skip = l->in_w * l->in_c - run * 4;
    const size_t row_block = (size_t)l->groups * 16;
    const int full = rows == l->kernel_h && run == l->row_groups;
    /* The rectangle's first group in row c of the filter (row group c / 4). */
    const int8_t *const w_first =
        l->filter + (size_t)(win->ky0 * l->kernel_w + win->kx0) * (size_t)l->in_c * 4;
    int8_t *const out = px->output + (size_t)px->pixel * (size_t)out_c;
    const ekd_add_prepared *const add = l->add;
    int8_t conv[2 * EKD_DIRECT_ADD_CHUNK];
    int32_t c0, c, j;
    for (c0 = 0; c0 < out_c; c0 += EKD_DIRECT_ADD_CHUNK) {
        const int32_t c1 = out_c - c0 < EKD_DIRECT_ADD_CHUNK ? out_c : c0 + EKD_DIRECT_ADD_CHUNK;
        /* Where channel c's values go: the output, or the chunk's stack array. */
        int8_t *const o = add != NULL ? conv - c0 : out;
        int8_t *const o2 =
            pixels > 1 ? o + (add != NULL ? (size_t)(c1 - c0) : (size_t)out_c) : o;
        for (c = c0; c < c1; c += 2) {
            /* Rows c and c + 1 sit side by side in their block (c is even); past out_c the
             * packed filter holds a zero row, computed from channel c's start, never
             * stored. */
            const int32_t c_next = c + 1 < c1 ? c + 1 : c;
            int32_t acc[2][2];
            acc[0][0] = acc[1][0] =
                full ? bias[c] : ekd_s32_from_bits(ekd_direct_base(l, win, c));
            acc[0][1] = acc[1][1] =
                full ? bias[c_next] : ekd_s32_from_bits(ekd_direct_base(l, win, c_next));
            ekd_direct_dot(w_first + (size_t)(c >> 2) * row_block + 4 * (c & 3), x, step,
                           rows, run, w_skip, x_skip, acc, pixels);
            {
                const int32_t m0 = multipliers[c], m1 = multipliers[c_next];
                const int32_t e0 = ekd_requantize_fast_shift(m0, shifts[c]);
                const int32_t e1 = ekd_requantize_fast_shift(m1, shifts[c_next]);
                const int32_t h0 = (int32_t)((uint32_t)1 << (e0 - 1));
                const int32_t h1 = (int32_t)((uint32_t)1 << (e1 - 1));
                int32_t v00 = ekd_requantize_fast(acc[0][0], m0, e0, h0) + offset;
                int32_t v01 = ekd_requantize_fast(acc[0][1], m1, e1, h1) + offset;
                int32_t v10 = ekd_requantize_fast(acc[1][0], m0, e0, h0) + offset;
                int32_t v11 = ekd_requantize_fast(acc[1][1], m1, e1, h1) + offset;
                /* Where [lo, hi] is the int8 range, SSAT alone. */
                if (int8_range) {
                    v00 = __ssat(v00, 8);
                    v01 = __ssat(v01, 8);
                    v10 = __ssat(v10, 8);
                    v11 = __ssat(v11, 8);
                } else {
                    v00 = ekd_clamp_s32(v00, lo, hi);
                    v01 = ekd_clamp_s32(v01, lo, hi);
                    v10 = ekd_clamp_s32(v10, lo, hi);
                    v11 = ekd_clamp_s32(v11, lo, hi);
                }
                /* The second pixel's value first: for a single pixel o2 is o and the
                 * first pixel's value overwrites it (no branch per value). */
                o2[c] = (int8_t)v10;
                o[c] = (int8_t)v00;
                if (c_next != c) {
                    o2[c_next] = (int8_t)v11;
                    o[c_next] = (int8_t)v01;
                }
            }
        }
        if (add != NULL) {
            /* Every channel in the chunk: the pixels' outputs are one run. */
            const int whole = c1 - c0 == out_c;
            const int32_t runs = whole ? 1 : pixels;
            const int32_t count = whole ? pixels * out_c : c1 - c0;
            for (j = 0; j < runs; ++j) {
                const size_t at = (size_t)px->pixel * (size_t)out_c +
                                  (size_t)j * (size_t)out_c + (size_t)c0;
                ekd_direct_add(add, conv + j * (c1 - c0), px->residual + at,
                               px->output + at, count);
            }
        }
    }
}

static inline void ekd_direct_run(const ekd_direct_layer *l, const ekd_direct_pixels *px,
                                  const int pixels)
{
    ekd_direct_pass(l, px, pixels);
}

#else /* portable C */
/* acc[p][j] += the products of channels c + j (j < 2) and pixel p over the window's
 * rectangle: `w` at the rectangle's first group of row c, pixels `step` bytes apart. */
static inline void ekd_direct_dot(const ekd_direct_layer *l, const ekd_direct_window *win,
                                  const int8_t *w, int32_t step, int32_t acc[][2],
                                  const int pixels)
{
    const int32_t run = (win->kx1 - win->kx0) * l->in_c / 4;
    const size_t w_row = (size_t)l->row_groups * 16, x_row = (size_t)l->in_w * l->in_c;
    const int8_t *x_start = win->x;
    /* Sums of at most EKD_DIRECT_MAX_DEPTH int8 products: no overflow. */
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0, a20 = 0, a21 = 0, a30 = 0, a31 = 0;
    int32_t ky, k;
    for (ky = win->ky0; ky < win->ky1; ++ky) {
        const int8_t *wp = w, *xp = x_start;
        const int8_t *const end = xp + (size_t)run * 4;
        while (xp != end) {
            for (k = 0; k < 4; ++k) {
                const int32_t w0 = wp[k], w1 = wp[4 + k];
                int32_t x = xp[k];
                a00 += w0 * x;
                a01 += w1 * x;
                if (pixels > 1) {
                    x = xp[step + k];
                    a10 += w0 * x;
                    a11 += w1 * x;
                    x = xp[2 * step + k];
                    a20 += w0 * x;
                    a21 += w1 * x;
                    x = xp[3 * step + k];
                    a30 += w0 * x;
                    a31 += w1 * x;
                }
            }
            wp += 16;
            xp += 4;
        }
        w += w_row;
        x_start += x_row;
    }
    acc[0][0] = a00;
    acc[0][1] = a01;
    if (pixels > 1) {
        acc[1][0] = a10;
        acc[1][1] = a11;
        acc[2][0] = a20;
        acc[2][1] = a21;
        acc[3][0] = a30;
        acc[3][1] = a31;
    }
}


/* `pixels` (1 or EKD_DIRECT_PIXELS, a constant at each call) pixels sharing one window
 * rectangle, all output channels, two per pass. */
static inline void ekd_direct_run(const ekd_direct_layer *l, const ekd_direct_pixels *px,
                                  const int pixels)
{
    const ekd_direct_window *win = &px->window;
    /* The rectangle's first group in each row c of the filter, row group c / 4. */
    const size_t first = (size_t)(win->ky0 * l->kernel_w + win->kx0) * l->in_c / 4 * 16;
    const size_t row_block = (size_t)l->groups * 16;
    /* Locals: the int8 output stores could alias *l as far as the compiler knows. */
    const int32_t out_c = l->out_c, output_offset = l->output_offset;
    const int32_t act_min = l->activation_min, act_max = l->activation_max;
    const ekd_add_prepared *const add_params = l->add;
    int8_t *const output = px->output + (size_t)px->pixel * (size_t)out_c;
    const int8_t *const residual =
        add_params != NULL ? px->residual + (size_t)px->pixel * (size_t)out_c : NULL;
    ekd_add_prepared add;
    int32_t c, p, j;
    if (add_params != NULL) {
        add = *add_params; /* a local copy: the int8 stores may alias *l->add */
    }
    for (c = 0; c < out_c; c += 2) {
        /* Rows c and c + 1 sit side by side in their block (c is even); past out_c the
         * packed filter holds zero rows, never stored. */
        const int8_t *w = l->filter + (size_t)(c >> 2) * row_block + 4 * (c & 3) + first;
        int32_t acc[EKD_DIRECT_PIXELS][2];
        ekd_direct_dot(l, win, w, px->step, acc, pixels);
        for (j = 0; j < 2 && c + j < out_c; ++j) {
            const uint32_t base = ekd_direct_base(l, win, c + j);
            const ekd_requant_channel r = ekd_requant_channel_at(l->quant, c + j);
            for (p = 0; p < pixels; ++p) {
                const size_t i = (size_t)p * (size_t)out_c + (size_t)(c + j);
                const int8_t v = ekd_requantize_output(
                    ekd_s32_from_bits(base + (uint32_t)acc[p][j]), r, output_offset,
                    act_min, act_max);
                if (add_params != NULL) {
                    /* The residual byte before output[i]: they may be the same byte. */
                    const int32_t x2 = residual[i];
                    output[i] = ekd_add_element(&add, v, x2);
                } else {
                    output[i] = v;
                }
            }
        }
    }
}


#endif /* EKD_ARM_DSP */

/* Output pixel (out_y, out_x) of `image` alone, through its own clipped rectangle:
 * `pixel` counted from the start of the tensor. */
static void ekd_direct_pixel(const ekd_direct_layer *l, const int8_t *image, int32_t out_y,
                             int32_t out_x, int32_t pixel, int8_t *output,
                             const int8_t *residual)
{
    const int32_t y0 = out_y * l->stride_h - l->pad_h, x0 = out_x * l->stride_w - l->pad_w;
    ekd_direct_pixels px;
    int32_t ky0, ky1, kx0, kx1;
    ekd_direct_clip(y0, l->kernel_h, l->in_h, &ky0, &ky1);
    ekd_direct_clip(x0, l->kernel_w, l->in_w, &kx0, &kx1);
    px.window.ky0 = ky0;
    px.window.ky1 = ky1;
    px.window.kx0 = kx0;
    px.window.kx1 = kx1;
    /* The rectangle's first tap (clamped: an empty rectangle reads nothing, but the
     * pointer stays inside the image). */
    px.window.x = image + ((size_t)(ky0 < ky1 ? y0 + ky0 : 0) * l->in_w +
                           (size_t)(kx0 < kx1 ? x0 + kx0 : 0)) * (size_t)l->in_c;
    px.step = 0;
    px.pixel = pixel;
    px.output = output;
    px.residual = residual;
    ekd_direct_run(l, &px, 1);
}

/* One output row of one image: `pixel` the row's first output pixel. EKD_DIRECT_PIXELS
 * consecutive pixels whose windows are clipped alike (all of them inside the input
 * horizontally, or at a border the same columns) share one rectangle and one pass; the
 * row's own clipping (top and bottom rows) they share anyway. */
static __attribute__((noinline)) void ekd_direct_row(const ekd_direct_layer *l, const int8_t *image, int32_t out_y,
                           int32_t pixel, int8_t *output, const int8_t *residual)
{
    const int32_t y0 = out_y * l->stride_h - l->pad_h;
    const int32_t last = (EKD_DIRECT_PIXELS - 1) * l->stride_w;
    const size_t pixel_bytes = (size_t)l->in_c;
    ekd_direct_pixels px;
    int32_t ky0, ky1, x;
    ekd_direct_clip(y0, l->kernel_h, l->in_h, &ky0, &ky1);
    px.window.ky0 = ky0;
    px.window.ky1 = ky1;
    px.step = l->stride_w * l->in_c;
    px.output = output;
    px.residual = residual;
    for (x = 0; x < l->out_w;) {
        const int32_t x0 = x * l->stride_w - l->pad_w;
        int32_t kx0, kx1, kx0_last, kx1_last;
        ekd_direct_clip(x0, l->kernel_w, l->in_w, &kx0, &kx1);
        ekd_direct_clip(x0 + last, l->kernel_w, l->in_w, &kx0_last, &kx1_last);
        /* The clipping only shrinks from left to right: the first and the last pixel
         * alike, so are those between. */
        if (x + EKD_DIRECT_PIXELS <= l->out_w && kx0 == kx0_last && kx1 == kx1_last) {
            /* The rectangle's first tap (clamped as in ekd_direct_pixel). */
            const int32_t y_first = ky0 < ky1 ? y0 + ky0 : 0;
            const int32_t x_first = kx0 < kx1 ? x0 + kx0 : 0;
            px.window.kx0 = kx0;
            px.window.kx1 = kx1;
            px.pixel = pixel + x;
            px.window.x =
                image + ((size_t)y_first * l->in_w + (size_t)x_first) * pixel_bytes;
            ekd_direct_run(l, &px, EKD_DIRECT_PIXELS);
            x += EKD_DIRECT_PIXELS;
        } else {
            ekd_direct_pixel(l, image, out_y, x, pixel + x, output, residual);
            x += 1;
        }
    }
}

#if EKD_ARM_DSP

/* The DSP block path (given the scratch). Four consecutive output pixels (raster order,
 * across rows and images) have their windows unpacked once into a block in the scratch,
 * int16, the four columns interleaved per group of four depth values as SXTB16 unpacks
 * the weights (x0 x2 x1 x3, ekd_mat_mult_s8.h's DSP layout), a tap in the padding holding
 * the input zero point; then every output channel is one weight row times the block: per
 * group one LDR of four weights, two SXTB16, two LDMs of the four columns' pairs, eight
 * SMLADs (13 instructions per 16 MACs, against 19 with the windows read in place, whose
 * inputs are unpacked again for every channel pair). The zero point cancels the folded
 * bias's share of the padding's taps, so the accumulator starts at the folded bias for
 * every pixel, border or not: no clipped rectangles, no tap sums. The block is 8 bytes
 * per window value (1152 B for a 3x3 window of 16 channels, ResNet-8's first block) of
 * the caller's scratch, never the stack (firmware stacks are sized tight, and the arena
 * figures must count every buffer). The tensor's last 1-3 pixels go through the
 * scratch-free path one at a time (the kernel's entry calls it): a block's unused columns
 * are never written (a residual summed over itself cannot be written twice). With a
 * residual, the convolution's values of up to EKD_DIRECT_ADD_CHUNK channels wait in 128
 * bytes of stack and ekd_direct_add runs over them (over the four pixels at once where
 * the chunk holds every channel: consecutive pixels, adjacent outputs). All four windows are read before the
 * first output is written: inside the write order's group of 4. */

/* The window of output pixel (out_y, out_x) of `image` into the column at `column` (the
 * block plus 2 words per column before it): each run of taps' groups unpacked into pairs,
 * each group 8 words after the last (past the other three columns). A run is a whole
 * kernel row where the window is inside the input horizontally (kw * in_c contiguous
 * input bytes), a tap otherwise; a run in the padding unpacks the word `zero` (the zero
 * point in its four bytes) over and over instead of the input: one loop for both. */
static __attribute__((noinline)) void ekd_direct_gather(const ekd_direct_layer *l,
                                                        const int8_t *image, int32_t out_y,
                                                        int32_t out_x, int32_t *column)
{
    const int32_t y0 = out_y * l->stride_h - l->pad_h, x0 = out_x * l->stride_w - l->pad_w;
    const int32_t in_c = l->in_c, kernel_w = l->kernel_w;
    const int inside_w = x0 >= 0 && x0 + kernel_w <= l->in_w;
    /* Taps per run and its groups. */
    const int32_t taps = inside_w ? kernel_w : 1, run = taps * (in_c >> 2);
    const int32_t zero = (int32_t)(((uint32_t)-l->input_offset & 0xFFu) * 0x01010101u);
    int32_t ky, kx, g;
    for (ky = 0; ky < l->kernel_h; ++ky) {
        const int32_t y = y0 + ky;
        for (kx = 0; kx < kernel_w; kx += taps) {
            const int32_t x = x0 + kx;
            const int8_t *src = (const int8_t *)&zero;
            int32_t src_step = 0;
            if (y >= 0 && y < l->in_h && x >= 0 && x < l->in_w) {
                src = image + ((size_t)y * l->in_w + (size_t)x) * (size_t)in_c;
                src_step = 4;
            }
            for (g = run; g > 0; --g) {
                /* LDR takes any alignment; STRD the block's words. */
                const int32_t v = ekd_read_s8x4(src);
                column[0] = ekd_sxtb16(v);
                column[1] = ekd_sxtb16_ror8(v);
                src += src_step;
                column += 8;
            }
        }
    }
}

/* One group for one channel and the four columns: EKD_MAT_MULT_GROUP
 * (ekd_mat_mult_s8.h), the block being laid out as the matrix kernel's. */
#define EKD_DIRECT_BLOCK_OPERANDS                                                       \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [wp] "+r"(wp),        \
      [xp] "+r"(xp), [w] "=&r"(w), [we] "=&r"(we)

/* acc[j] += weight row `wp` (at its first group) times column j, `groups` groups: the
 * odd one, an odd pair, then four per branch (a tap of 16 channels). */
static inline __attribute__((always_inline)) void
ekd_direct_block_dot(const int8_t *wp, const int32_t *xp, int32_t groups, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t w, we;
    int32_t quads = groups >> 2;
    /* SMLAD wraps like TFLM's int32 sums; the accumulator bound keeps them exact. */
    if (groups & 1) {
        __asm__ volatile(EKD_MAT_MULT_GROUP EKD_DIRECT_BLOCK_OPERANDS
                         :
                         : "r8", "r9", "r10", "r11", "memory");
    }
    if (groups & 2) {
        __asm__ volatile(EKD_MAT_MULT_GROUP EKD_MAT_MULT_GROUP
                         EKD_DIRECT_BLOCK_OPERANDS
                         :
                         : "r8", "r9", "r10", "r11", "memory");
    }
    if (quads > 0) {
        __asm__ volatile("1:\n\t" EKD_MAT_MULT_GROUP EKD_MAT_MULT_GROUP
                         EKD_MAT_MULT_GROUP EKD_MAT_MULT_GROUP
                         "subs   %[n], %[n], #1\n\t"
                         "bne    1b\n\t"
                         EKD_DIRECT_BLOCK_OPERANDS, [n] "+r"(quads)
                         :
                         : "r8", "r9", "r10", "r11", "cc", "memory");
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The convolution of the tensor's first `total` pixels rounded down to a multiple of 4,
 * through blocks; returns how many pixels it wrote. One copy for every way of writing
 * (the clamp's branch once per channel, the residual once per chunk), in a function of
 * its own: the kernel's frame holds none of its locals (the scratch-free path never has
 * them on the stack). Every output channel of a block's four pixels, written at `out`
 * (pixel after pixel, out_c bytes apart) or, with a residual, into the chunk's stack
 * array, then the ADD over it pixel by pixel. */
static __attribute__((noinline)) int32_t
ekd_direct_block_path(const ekd_direct_layer *l, const int8_t *input, int32_t out_h,
                      int32_t total, int8_t *output, const int8_t *residual, int32_t *block)
{
    /* Locals: the int8 stores could alias *l as far as the compiler knows. */
    const int8_t *const filter = l->filter;
    const int32_t *const bias = l->bias;
    const int32_t *const multipliers = l->quant->multiplier, *const shifts = l->quant->shift;
    const int32_t out_w = l->out_w, out_c = l->out_c, groups = l->groups;
    const size_t row_block = (size_t)groups * 16;
    const size_t image_bytes = (size_t)l->in_h * l->in_w * l->in_c;
    const int32_t offset = l->output_offset;
    const int32_t lo = l->activation_min, hi = l->activation_max;
    const int int8_range = lo == -128 && hi == 127;
    const ekd_add_prepared *const add = l->add;
    int8_t conv[4 * EKD_DIRECT_ADD_CHUNK];
    int32_t pixel, c0, c, j;
    /* The next window's pixel: image `b`, row `y`, column `x`. */
    int32_t b = 0, y = 0, x = 0;
    for (pixel = 0; total - pixel >= 4; pixel += 4) {
        const size_t at = (size_t)pixel * (size_t)out_c;
        for (j = 0; j < 4; ++j) {
            ekd_direct_gather(l, input + (size_t)b * image_bytes, y, x, block + 2 * j);
            if (++x == out_w) {
                x = 0;
                if (++y == out_h) {
                    y = 0;
                    ++b;
                }
            }
        }
        for (c0 = 0; c0 < out_c; c0 += EKD_DIRECT_ADD_CHUNK) {
            const int32_t c1 =
                out_c - c0 < EKD_DIRECT_ADD_CHUNK ? out_c : c0 + EKD_DIRECT_ADD_CHUNK;
            /* Where channel c's four values go: the output, or the chunk's stack array
             * (pixel after pixel, the chunk's channel count apart). */
            int8_t *const o = add != NULL ? conv - c0 : output + at;
            const size_t o_step = add != NULL ? (size_t)(c1 - c0) : (size_t)out_c;
            for (c = c0; c < c1; ++c) {
                int8_t *p = o + c;
                int32_t acc[4];
                const int32_t m = multipliers[c];
                const int32_t e = ekd_requantize_fast_shift(m, shifts[c]);
                const int32_t h = (int32_t)((uint32_t)1 << (e - 1));
                acc[0] = acc[1] = acc[2] = acc[3] = bias[c];
                ekd_direct_block_dot(filter + (size_t)(c >> 2) * row_block + 4 * (c & 3),
                                     block, groups, acc);
                {
                    int32_t v0 = ekd_requantize_fast(acc[0], m, e, h) + offset;
                    int32_t v1 = ekd_requantize_fast(acc[1], m, e, h) + offset;
                    int32_t v2 = ekd_requantize_fast(acc[2], m, e, h) + offset;
                    int32_t v3 = ekd_requantize_fast(acc[3], m, e, h) + offset;
                    if (int8_range) {
                        v0 = __ssat(v0, 8);
                        v1 = __ssat(v1, 8);
                        v2 = __ssat(v2, 8);
                        v3 = __ssat(v3, 8);
                    } else {
                        v0 = ekd_clamp_s32(v0, lo, hi);
                        v1 = ekd_clamp_s32(v1, lo, hi);
                        v2 = ekd_clamp_s32(v2, lo, hi);
                        v3 = ekd_clamp_s32(v3, lo, hi);
                    }
                    /* One pointer (the empty asm keeps the compiler from deriving four
                     * of them from c, which it then keeps on the stack). */
                    __asm__("" : "+r"(p));
                    p[0] = (int8_t)v0;
                    p += o_step;
                    p[0] = (int8_t)v1;
                    p += o_step;
                    p[0] = (int8_t)v2;
                    p[o_step] = (int8_t)v3;
                }
            }
            if (add != NULL) {
                /* Every channel in the chunk: the four pixels' outputs are one run. */
                const int whole = c1 - c0 == out_c;
                const int32_t runs = whole ? 1 : 4;
                const int32_t count = whole ? 4 * out_c : c1 - c0;
                for (j = 0; j < runs; ++j) {
                    const size_t at_j = at + (size_t)j * (size_t)out_c + (size_t)c0;
                    ekd_direct_add(add, conv + j * (c1 - c0), residual + at_j,
                                   output + at_j, count);
                }
            }
        }
    }
    return pixel;
}

#endif /* EKD_ARM_DSP */

int32_t ekd_conv2d_direct_s8_scratch_size(const ekd_dims *input_dims,
                                          const ekd_dims *filter_dims,
                                          const ekd_dims *output_dims)
{
    (void)input_dims;
    (void)output_dims;
    if (filter_dims == NULL || filter_dims->h <= 0 || filter_dims->w <= 0 ||
        filter_dims->c <= 0 || (filter_dims->c & 3) != 0 ||
        filter_dims->h > EKD_DIRECT_MAX_DEPTH / filter_dims->w / filter_dims->c) {
        return 0;
    }
#if EKD_ARM_DSP
    return EKD_DIRECT_BLOCK_BYTES(filter_dims->h * filter_dims->w * filter_dims->c);
#else
    return 0; /* no block path */
#endif
}

ekd_status ekd_conv2d_direct_s8(const ekd_context *ctx, const ekd_conv_params *params,
                                const ekd_per_channel_quant *quant,
                                const ekd_dims *input_dims, const int8_t *input,
                                const ekd_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias, const int32_t *tap_sums,
                                const ekd_dims *output_dims, int8_t *output,
                                const ekd_residual *residual)
{
    ekd_direct_layer l;
    ekd_add_prepared add; /* the residual ADD's, prepared once */
    const int8_t *res;
    int32_t out_h, out_w, total, pixel = 0;
    size_t image_bytes;
    ekd_status status = ekd_validate_conv_fast(params, quant, input_dims, input, filter_dims,
                                               filter, output_dims, output);
    if (status != EKD_OK) {
        return status;
    }
    if (bias == NULL || tap_sums == NULL || filter_dims->n != output_dims->c ||
        filter_dims->c != input_dims->c || (input_dims->c & 3) != 0 ||
        params->dilation_h != 1 || params->dilation_w != 1 ||
        filter_dims->h > EKD_DIRECT_MAX_DEPTH / filter_dims->w / filter_dims->c) {
        return EKD_ERROR_ARGUMENT;
    }
    if (residual != NULL &&
        (residual->input == NULL || !ekd_add_fast_valid(residual->params))) {
        return EKD_ERROR_ARGUMENT;
    }
    l.in_h = input_dims->h;
    l.in_w = input_dims->w;
    l.in_c = input_dims->c;
    l.kernel_h = filter_dims->h;
    l.kernel_w = filter_dims->w;
    l.stride_h = params->stride_h;
    l.stride_w = params->stride_w;
    l.pad_h = params->pad_h;
    l.pad_w = params->pad_w;
    l.out_w = out_w = output_dims->w;
    l.out_c = output_dims->c;
    l.row_groups = l.kernel_w * l.in_c / 4;
    l.groups = l.kernel_h * l.row_groups;
    l.filter = filter;
    l.bias = bias;
    l.tap_sums = tap_sums;
    l.quant = quant;
    l.input_offset = params->input_offset;
    l.output_offset = params->output_offset;
    l.activation_min = params->activation_min;
    l.activation_max = params->activation_max;
    l.add = NULL;
    res = NULL;
    if (residual != NULL) {
        ekd_add_prepare_run(&add, residual->params);
        l.add = &add;
        res = residual->input;
    }
    out_h = output_dims->h;
    total = output_dims->n * out_h * out_w;
    image_bytes = (size_t)l.in_h * l.in_w * l.in_c;
#if EKD_ARM_DSP
    /* The block path where the caller gives its scratch (aligned: STRD and LDM), the
     * scratch-free path otherwise: the same bytes either way. */
    if (ctx != NULL && ctx->buf != NULL && ((uintptr_t)ctx->buf & 3u) == 0 &&
        ctx->size >= EKD_DIRECT_BLOCK_BYTES(l.groups * 4)) {
        pixel = ekd_direct_block_path(&l, input, out_h, total, output, res,
                                      (int32_t *)ctx->buf);
        /* The last 1-3 pixels alone, through the scratch-free path. */
        for (; pixel < total; ++pixel) {
            const int32_t row = pixel / out_w;
            ekd_direct_pixel(&l, input + (size_t)(row / out_h) * image_bytes, row % out_h,
                             pixel - row * out_w, pixel, output, res);
        }
        return EKD_OK;
    }
#else
    (void)ctx;
#endif
    /* Row by row: `pixel` the row's first output pixel. */
    for (; pixel < total; pixel += out_w) {
        const int32_t row = pixel / out_w;
        ekd_direct_row(&l, input + (size_t)(row / out_h) * image_bytes, row % out_h, pixel,
                       output, res);
    }
    return EKD_OK;
}
