/*
 * The depthwise core of ekd_depthwise_group_s8.h for Arm cores with the DSP extension.
 *
 * A group of four channels: its weights are unpacked once, per tap, into the halfword
 * pairs (w0, w2) and (w1, w3) (SXTB16, SXTB16 ROR #8) on the stack, and its
 * requantization into {multiplier, right shift, rounding half} per channel. Per pixel and
 * tap: one LDR of the four inputs, SXTAB16 and SXTAB16 ROR #8 widen them to (x0, x2) and
 * (x1, x3) with the input offset added, one LDRD of the prepared weights, and
 * SMLABB/SMLATT accumulate each channel: 8 instructions for 4 MACs in the unrolled 3x3
 * window (dilation 1, inside the input), 11 in the loop that takes any other window. The
 * tap loops and the requantization are assembly: the compiler's register allocation
 * spilled the accumulators. Other groups (fewer channels, windows of more than
 * EKD_DW_DSP_PREPARED_TAPS taps) take a plain loop.
 */
#include "ekd_dsp.h"

#if EKD_ARM_DSP

#include "ekd_depthwise_group_s8.h"
#include "ekd_fixedpoint.h"
#include "ekd_requantize.h"

/* Taps of a window the groups of four prepare on the stack (12 bytes each: two words of
 * weights, an offset): up to 8x8, micro_speech-style 10x4 and 8x10 windows included. The
 * DSP cores have the stack for it; the portable build keeps EKD_DW_PREPARED_TAPS. */
#define EKD_DW_DSP_PREPARED_TAPS 80

/* One tap of the unrolled 3x3 window: the inputs at [x + xoff], weights at [w + woff].
 * (Two LDRs of the weights rather than one LDRD: a register fewer, which the compiler
 * needs at -O0.) */
#define EKD_DW_TAP_ASM(xoff, woff0, woff1)                    \
    "ldr     %[xv], [%[xp]" xoff "]\n\t"                      \
    "ldr     %[wv], [%[wb], #" woff0 "]\n\t"                  \
    "sxtab16 %[t], %[off], %[xv]\n\t"                         \
    "sxtab16 %[xv], %[off], %[xv], ror #8\n\t"                \
    "smlabb  %[a0], %[t], %[wv], %[a0]\n\t"                   \
    "smlatt  %[a2], %[t], %[wv], %[a2]\n\t"                   \
    "ldr     %[wv], [%[wb], #" woff1 "]\n\t"                  \
    "smlabb  %[a1], %[xv], %[wv], %[a1]\n\t"                  \
    "smlatt  %[a3], %[xv], %[wv], %[a3]\n\t"

/* A window row of the unrolled 3x3: taps at x, x + c, x + 2c (x advances by 2c). */
#define EKD_DW_ROW3_ASM(w0a, w0b, w1a, w1b, w2a, w2b)         \
    EKD_DW_TAP_ASM("", w0a, w0b)                              \
    "ldr     %[t], %[cs]\n\t"                                 \
    "add     %[xp], %[xp], %[t]\n\t"                          \
    EKD_DW_TAP_ASM("", w1a, w1b)                              \
    "ldr     %[t], %[cs]\n\t"                                 \
    "add     %[xp], %[xp], %[t]\n\t"                          \
    EKD_DW_TAP_ASM("", w2a, w2b)

/* The nine taps of a 3x3 window inside the input (dilation 1): x its top-left pixel's
 * four inputs, taps `c` bytes apart in a row, rows `next_row` bytes apart after a row's
 * own steps of 2c; 9 instructions a tap, 2 a step. The operands are as many as GCC can
 * place in registers at -O0 with a frame pointer: the two steps come from memory. */
#define EKD_DW_3X3(x_, c_, next_row_, w_)                                      \
    do {                                                                       \
        int32_t xv_, t_, wv_;                                                  \
        const int8_t *xp_ = (x_);                                              \
        __asm__ volatile(EKD_DW_ROW3_ASM("0", "4", "8", "12", "16", "20")      \
                         "ldr     %[t], %[nr]\n\t"                             \
                         "add     %[xp], %[xp], %[t]\n\t"                      \
                         EKD_DW_ROW3_ASM("24", "28", "32", "36", "40", "44")   \
                         "ldr     %[t], %[nr]\n\t"                             \
                         "add     %[xp], %[xp], %[t]\n\t"                      \
                         EKD_DW_ROW3_ASM("48", "52", "56", "60", "64", "68")   \
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2),       \
                           [a3] "+r"(a3), [xp] "+r"(xp_), [xv] "=&r"(xv_),    \
                           [t] "=&r"(t_), [wv] "=&r"(wv_)                      \
                         : [wb] "r"(w_), [off] "r"(offsets), [cs] "m"(c_),     \
                           [nr] "m"(next_row_)                                 \
                         : "memory");                                          \
    } while (0)

/* Requantize one accumulator with its channel's {multiplier, right shift, half} record
 * (ekd_requantize_fast), add the output offset, saturate to int8 and store the byte:
 * LDM, LSL, SUB, SMMLAR, ASR, ADD, SSAT, STRB. */
#define EKD_DW_OUT_SSAT_ASM(acc, index)                                \
    "ldm     %[r]!, {%[m], %[e], %[h]}\n\t"                            \
    "lsl     %[d], %[" acc "], #1\n\t"                                 \
    "sub     %[h], %[h], %[" acc "], lsr #31\n\t"                      \
    "smmlar  %[d], %[d], %[m], %[h]\n\t"                               \
    "asr     %[d], %[d], %[e]\n\t"                                     \
    "add     %[d], %[d], %[o]\n\t"                                     \
    "ssat    %[d], #8, %[d]\n\t"                                       \
    "strb    %[d], [%[out], #" index "]\n\t"

typedef struct {
    int32_t multiplier, right_shift, half;
} ekd_dw_requant;

/* Four outputs of a full-range layer (activation -128..127): the clamp is SSAT. The
 * {m, e, h} records must sit in registers of ascending number for LDM: r4-r6 are pinned. */
static inline void ekd_dw_store4_ssat(int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                      const ekd_dw_requant *records, int32_t offset,
                                      int8_t *out)
{
    register int32_t m __asm__("r4");
    register int32_t e __asm__("r5");
    register int32_t h __asm__("r6");
    int32_t d;
    const ekd_dw_requant *r = records;
    __asm__ volatile(EKD_DW_OUT_SSAT_ASM("a0", "0") EKD_DW_OUT_SSAT_ASM("a1", "1")
                     EKD_DW_OUT_SSAT_ASM("a2", "2") EKD_DW_OUT_SSAT_ASM("a3", "3")
                     : [r] "+r"(r), [m] "=&r"(m), [e] "=&r"(e), [h] "=&r"(h), [d] "=&r"(d)
                     : [a0] "r"(a0), [a1] "r"(a1), [a2] "r"(a2), [a3] "r"(a3),
                       [o] "r"(offset), [out] "r"(out)
                     : "memory");
}

static inline __attribute__((always_inline)) int8_t ekd_dw_output(int32_t acc,
                                                                  const ekd_dw_requant *r,
                                                                  int32_t offset,
                                   int32_t lo, int32_t hi)
{
    const int32_t v =
        ekd_requantize_fast(acc, r->multiplier, r->right_shift, r->half) + offset;
    return (int8_t)ekd_clamp_s32(v, lo, hi);
}

/* Requantize and store four channels' outputs; offset, lo and hi passed by value so that
 * a caller's loop keeps them in registers (the byte stores could alias *s); full_range:
 * lo == -128 and hi == 127, computed once by the caller (the clamp is then SSAT's). */
static inline void ekd_dw_store4(const ekd_dw_requant *requant, int32_t a0, int32_t a1,
                                 int32_t a2, int32_t a3, int32_t offset, int32_t lo,
                                 int32_t hi, int full_range, int8_t *out)
{
    if (full_range) {
        ekd_dw_store4_ssat(a0, a1, a2, a3, requant, offset, out);
    } else {
        out[0] = ekd_dw_output(a0, &requant[0], offset, lo, hi);
        out[1] = ekd_dw_output(a1, &requant[1], offset, lo, hi);
        out[2] = ekd_dw_output(a2, &requant[2], offset, lo, hi);
        out[3] = ekd_dw_output(a3, &requant[3], offset, lo, hi);
    }
}

/* How far a 3x3 window's origin lies before the 3x3 block of inputs that covers its
 * taps inside the input: origin - clamp(origin, 0, size - 3). */
static inline int32_t ekd_dw_shift3(int32_t origin, int32_t size)
{
    const int32_t clamped = origin < 0 ? 0 : (origin > size - 3 ? size - 3 : origin);
    return origin - clamped;
}

/* Four channels through a 3x3 filter, dilation 1, on an input of at least 3x3. Every
 * window runs the unrolled nine taps: a window that meets the padding is moved inside
 * the input (by one row or column at most) and multiplied with a copy of the weights
 * moved the other way, zero where a tap falls outside the filter. So a tap in
 * the padding contributes nothing, as in TFLM, and no load leaves the input. */
static __attribute__((noinline)) void ekd_dw_group4_3x3(const ekd_nn_dw_group *g,
                                                      const int32_t weights[18],
                              const int32_t bias[4], const ekd_dw_requant requant[4])
{
    const ekd_conv_params *p = g->params;
    const int32_t channels = g->channels;
    const int32_t in_h = g->in_h, in_w = g->in_w, out_h = g->out_h, out_w = g->out_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
    const int32_t pad_h = p->pad_h, pad_w = p->pad_w;
    const int32_t offsets = (int32_t)(((uint32_t)p->input_offset & 0xFFFFu) * 0x10001u);
    const int32_t out_offset = p->output_offset;
    const int32_t lo = p->activation_min, hi = p->activation_max;
    const int full_range = lo == -128 && hi == 127;
    const int32_t next_row = (in_w - 2) * channels; /* after a row's x += 2 * channels */
    const int8_t *image = g->input;
    int8_t *out = g->output;
    /* [sy + 1][sx + 1]: the weights of a window whose origin lies sy rows and sx columns
     * before the 3x3 block of inputs it reads: block tap (i, j) is filter tap
     * (i - sy, j - sx), or zero outside the filter. */
    int32_t moved[3][3][18];
    int32_t sy, sx, i, j, out_y, out_x;

    for (sy = -1; sy <= 1; ++sy) {
        for (sx = -1; sx <= 1; ++sx) {
            int32_t *dst = moved[sy + 1][sx + 1];
            for (i = 0; i < 3; ++i, dst += 6) {
                const int32_t ky = i - sy;
                const int32_t *src = weights + 6 * ky;
                if (ky < 0 || ky > 2) {
                    dst[0] = dst[1] = dst[2] = dst[3] = dst[4] = dst[5] = 0;
                    continue;
                }
                for (j = 0; j < 3; ++j) {
                    const int32_t kx = j - sx;
                    const int inside = kx >= 0 && kx < 3;
                    dst[2 * j] = inside ? src[2 * kx] : 0;
                    dst[2 * j + 1] = inside ? src[2 * kx + 1] : 0;
                }
            }
        }
    }
    for (out_y = 0; out_y < out_h; ++out_y) {
        const int32_t y0 = out_y * stride_h - pad_h;
        const int32_t shift_y = ekd_dw_shift3(y0, in_h);
        const int8_t *row = image + (size_t)(y0 - shift_y) * in_w * channels;
        for (out_x = 0; out_x < out_w; ++out_x) {
            const int32_t x0 = out_x * stride_w - pad_w;
            const int32_t shift_x = ekd_dw_shift3(x0, in_w);
            const int32_t *w = moved[shift_y + 1][shift_x + 1];
            /* SMLAxy accumulate onto the bias; they wrap like TFLM's int32 sums, and the
             * accumulator bound keeps every sum exact anyway. */
            int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
            EKD_DW_3X3(row + (size_t)(x0 - shift_x) * channels, channels, next_row, w);
            ekd_dw_store4(requant, a0, a1, a2, a3, out_offset, lo, hi, full_range, out);
            out += channels;
        }
    }
}

/* One tap of four channels in C: the word of inputs xv widened with the input offset
 * added, multiplied with the tap's prepared weights w[0] = (w0, w2), w[1] = (w1, w3). */
#define EKD_DW_TAP_C(xv, w)                                  \
    do {                                                     \
        const int32_t x02_ = ekd_sxtab16(offsets, (xv));     \
        const int32_t x13_ = ekd_sxtab16_ror8(offsets, (xv)); \
        a0 = __smlabb(x02_, (w)[0], a0);                     \
        a2 = __smlatt(x02_, (w)[0], a2);                     \
        a1 = __smlabb(x13_, (w)[1], a1);                     \
        a3 = __smlatt(x13_, (w)[1], a3);                     \
    } while (0)

/* A group of four channels prepared for the loops below. */
typedef struct {
    const int32_t *weights;        /* per tap: (w0, w2), (w1, w3) */
    const int32_t *offsets_of_tap; /* bytes from a window's origin, windows inside */
    const int32_t *bias;           /* [4] */
    const ekd_dw_requant *requant; /* [4] */
    int32_t taps, offsets;         /* offsets: the input offset in both halfwords */
    int32_t out_offset, lo, hi;
} ekd_dw_prep;

/* `count` output pixels of a row whose windows lie inside the input, the first window's
 * origin at `origin`, the next ones `origin_step` bytes on: one flat loop over the taps
 * at their fixed offsets, however they lie (a Kx1 window's rows, a 1xK's pixels). On its
 * own (noinline) so that the accumulators stay in registers. */
static __attribute__((noinline)) void ekd_dw_run_inside(const ekd_dw_prep *s,
                                                        const int8_t *origin,
                                                        int32_t origin_step, int8_t *out,
                                                        int32_t out_step, int32_t count)
{
    const int32_t taps = s->taps, offsets = s->offsets;
    const int32_t offset = s->out_offset, lo = s->lo, hi = s->hi;
    const int full_range = lo == -128 && hi == 127;
    const ekd_dw_requant *const requant = s->requant;
    for (; count > 0; --count, origin += origin_step, out += out_step) {
        int32_t a0 = s->bias[0], a1 = s->bias[1], a2 = s->bias[2], a3 = s->bias[3];
        const int32_t *w = s->weights, *off = s->offsets_of_tap;
        int32_t t;
        for (t = 0; t < taps; ++t, w += 2) {
            const int32_t xv = ekd_read_s8x4(origin + *off++);
            EKD_DW_TAP_C(xv, w);
        }
        ekd_dw_store4(requant, a0, a1, a2, a3, offset, lo, hi, full_range, out);
    }
}

/* One output pixel whose window may reach into the padding: the taps inside the input
 * (rows ky0..ky1, the columns found here), TFLM skipping the others. */
static __attribute__((noinline)) void ekd_dw_pixel_clipped(const ekd_dw_prep *s,
                                                           const ekd_nn_dw_group *g,
                                                           int32_t y0, int32_t ky0,
                                                           int32_t ky1, int32_t x0,
                                                           int8_t *out)
{
    const ekd_conv_params *p = g->params;
    const int32_t channels = g->channels, kernel_w = g->kernel_w, offsets = s->offsets;
    const int32_t x_step = p->dilation_w * channels;
    const int32_t row_step = p->dilation_h * g->in_w * channels;
    int32_t a0 = s->bias[0], a1 = s->bias[1], a2 = s->bias[2], a3 = s->bias[3];
    int32_t kx0, kx1;
    ekd_dw_valid_taps(x0, p->dilation_w, kernel_w, g->in_w, &kx0, &kx1);
    if (ky1 > ky0 && kx1 > kx0) {
        const int8_t *x_row = g->input + ((size_t)(y0 + ky0 * p->dilation_h) * g->in_w +
                                          (size_t)(x0 + kx0 * p->dilation_w)) * channels;
        const int32_t *w_row = s->weights + 2 * (ky0 * kernel_w + kx0);
        int32_t ky, kx;
        for (ky = ky0; ky < ky1; ++ky) {
            const int8_t *x = x_row;
            const int32_t *w = w_row;
            for (kx = kx0; kx < kx1; ++kx) {
                const int32_t xv = ekd_read_s8x4(x);
                EKD_DW_TAP_C(xv, w);
                x += x_step;
                w += 2;
            }
            x_row += row_step;
            w_row += 2 * kernel_w;
        }
    }
    ekd_dw_store4(s->requant, a0, a1, a2, a3, s->out_offset, s->lo, s->hi,
                  s->lo == -128 && s->hi == 127, out);
}

/* Four channels through any filter of at most EKD_DW_DSP_PREPARED_TAPS taps. */
static void ekd_dw_group4(const ekd_nn_dw_group *g)
{
    const ekd_conv_params *p = g->params;
    const int32_t channels = g->channels;
    const int32_t kernel_h = g->kernel_h, kernel_w = g->kernel_w;
    const int32_t taps = kernel_h * kernel_w;
    const int32_t in_h = g->in_h, in_w = g->in_w, out_h = g->out_h, out_w = g->out_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
    const int32_t dilation_h = p->dilation_h, dilation_w = p->dilation_w;
    const int32_t pad_h = p->pad_h, pad_w = p->pad_w;
    const int32_t offsets = (int32_t)(((uint32_t)p->input_offset & 0xFFFFu) * 0x10001u);
    const int32_t x_step = dilation_w * channels;
    const int32_t row_step = dilation_h * in_w * channels;
    const int8_t *image = g->input;
    int8_t *out = g->output;
    int32_t weights[2 * EKD_DW_DSP_PREPARED_TAPS]; /* per tap: (w0, w2), (w1, w3) */
    int32_t offsets_of_tap[EKD_DW_DSP_PREPARED_TAPS]; /* bytes from a window's origin */
    ekd_dw_requant requant[4];
    int32_t bias[4];
    ekd_dw_prep prep;
    int32_t i, out_y, inside_x0, inside_x1;

    for (i = 0; i < taps; ++i) {
        const int32_t w = ekd_read_s8x4(g->filter + (size_t)i * channels);
        weights[2 * i] = ekd_sxtb16(w);
        weights[2 * i + 1] = ekd_sxtb16_ror8(w);
    }
    for (i = 0; i < 4; ++i) {
        bias[i] = g->bias != NULL ? g->bias[i] : 0;
        requant[i].multiplier = g->multiplier[i];
        requant[i].right_shift = ekd_requantize_fast_shift(requant[i].multiplier, g->shift[i]);
        requant[i].half = (int32_t)((uint32_t)1 << (requant[i].right_shift - 1));
    }
    if (kernel_h == 3 && kernel_w == 3 && dilation_h == 1 && dilation_w == 1 && in_h >= 3 &&
        in_w >= 3) {
        /* The windows' shifts into the input lie between those of the first and the last
         * window in each direction. */
        const int32_t last_y = (out_h - 1) * stride_h - pad_h;
        const int32_t last_x = (out_w - 1) * stride_w - pad_w;
        if (ekd_dw_shift3(-pad_h, in_h) >= -1 && ekd_dw_shift3(last_y, in_h) <= 1 &&
            ekd_dw_shift3(-pad_w, in_w) >= -1 && ekd_dw_shift3(last_x, in_w) <= 1) {
            ekd_dw_group4_3x3(g, weights, bias, requant);
            return;
        }
    }

    prep.weights = weights;
    prep.offsets_of_tap = offsets_of_tap;
    prep.bias = bias;
    prep.requant = requant;
    prep.taps = taps;
    prep.offsets = offsets;
    prep.out_offset = p->output_offset;
    prep.lo = p->activation_min;
    prep.hi = p->activation_max;
    for (i = 0; i < taps; ++i) {
        offsets_of_tap[i] = ((i / kernel_w) * row_step) + (i % kernel_w) * x_step;
    }
    /* The output columns whose windows lie inside the input's width: [inside_x0,
     * inside_x1). */
    {
        const int32_t span = (kernel_w - 1) * dilation_w; /* a window's width - 1 */
        int32_t x1 = in_w - 1 - span + pad_w < 0 ? 0 : (in_w - 1 - span + pad_w) / stride_w + 1;
        inside_x0 = (pad_w + stride_w - 1) / stride_w;
        inside_x1 = x1 > out_w ? out_w : x1;
        if (inside_x1 < inside_x0) {
            inside_x1 = inside_x0 = out_w;
        }
    }
    for (out_y = 0; out_y < out_h; ++out_y) {
        const int32_t y0 = out_y * stride_h - pad_h;
        int32_t ky0, ky1, out_x = 0;
        ekd_dw_valid_taps(y0, dilation_h, kernel_h, in_h, &ky0, &ky1);
        if (ky0 == 0 && ky1 == kernel_h) {
            for (; out_x < inside_x0; ++out_x, out += channels) {
                ekd_dw_pixel_clipped(&prep, g, y0, ky0, ky1, out_x * stride_w - pad_w, out);
            }
            if (inside_x1 > out_x) {
                const int32_t x0 = out_x * stride_w - pad_w;
                ekd_dw_run_inside(&prep, image + ((size_t)y0 * in_w + (size_t)x0) * channels,
                                  stride_w * channels, out, channels, inside_x1 - out_x);
                out += (size_t)(inside_x1 - out_x) * channels;
                out_x = inside_x1;
            }
        }
        for (; out_x < out_w; ++out_x, out += channels) {
            ekd_dw_pixel_clipped(&prep, g, y0, ky0, ky1, out_x * stride_w - pad_w, out);
        }
    }
}

/* Any group: one channel at a time, the weights read from the filter. */
static void ekd_dw_group_plain(const ekd_nn_dw_group *g)
{
    const ekd_conv_params *p = g->params;
    const int32_t channels = g->channels, kernel_w = g->kernel_w;
    const int32_t input_offset = p->input_offset;
    int32_t c, out_y, out_x;
    for (c = 0; c < g->count; ++c) {
        ekd_dw_requant r;
        const int32_t bias = g->bias != NULL ? g->bias[c] : 0;
        int8_t *out = g->output + c;
        r.multiplier = g->multiplier[c];
        r.right_shift = ekd_requantize_fast_shift(r.multiplier, g->shift[c]);
        r.half = (int32_t)((uint32_t)1 << (r.right_shift - 1));
        for (out_y = 0; out_y < g->out_h; ++out_y) {
            const int32_t y0 = out_y * p->stride_h - p->pad_h;
            int32_t ky0, ky1;
            ekd_dw_valid_taps(y0, p->dilation_h, g->kernel_h, g->in_h, &ky0, &ky1);
            for (out_x = 0; out_x < g->out_w; ++out_x) {
                const int32_t x0 = out_x * p->stride_w - p->pad_w;
                int32_t acc = bias;
                int32_t kx0, kx1, ky, kx;
                ekd_dw_valid_taps(x0, p->dilation_w, kernel_w, g->in_w, &kx0, &kx1);
                for (ky = ky0; ky < ky1; ++ky) {
                    const int8_t *x_row = g->input + c +
                        (size_t)(y0 + ky * p->dilation_h) * g->in_w * channels;
                    const int8_t *w_row = g->filter + c + (size_t)ky * kernel_w * channels;
                    for (kx = kx0; kx < kx1; ++kx) {
                        acc = __smlabb(w_row[(size_t)kx * channels],
                                       x_row[(size_t)(x0 + kx * p->dilation_w) * channels] +
                                           input_offset,
                                       acc);
                    }
                }
                *out = ekd_dw_output(acc, &r, p->output_offset, p->activation_min,
                                     p->activation_max);
                out += channels;
            }
        }
    }
}

void ekd_nn_depthwise_group_s8(const ekd_nn_dw_group *group)
{
    if (group->count == 4 && group->kernel_h * group->kernel_w <= EKD_DW_DSP_PREPARED_TAPS) {
        ekd_dw_group4(group);
    } else {
        ekd_dw_group_plain(group);
    }
}

#else
typedef int ekd_depthwise_group_s8_dsp_unused; /* ISO C forbids an empty translation unit */
#endif /* EKD_ARM_DSP */
