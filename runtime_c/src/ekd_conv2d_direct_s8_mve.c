/*
 * CONV_2D read in place, no scratch, with an optional fused residual ADD: Helium (MVE)
 * variant (ekd_conv2d_direct_s8_mve, declared in ekd_mve.h; the contract is the comment
 * above ekd_conv2d_direct_s8 in ekd.h). Bit-exact with TFLM's
 * reference_integer_ops::ConvPerChannel, followed by reference_integer_ops::Add when a
 * residual is given.
 *
 * in_c is a multiple of 16 and dilation 1, so every tap of a window is whole vectors and
 * a kernel row of a window is kernel_w * in_c contiguous input bytes: the windows are
 * read straight from the input, nothing is copied. The output columns whose windows have
 * every column inside the input go four pixels (of one output row) and two output
 * channels per pass: each 16-byte slice of the two filter rows is loaded once and dotted
 * with the four windows (eight VMLADAVA per six loads). When the four windows are 16, 32
 * or 64 bytes apart (stride_w * in_c: ResNet-8's 3x3 layers) the loop is GCC inline
 * assembly reading them through one or two pointers with immediate offsets (VMLADAVA
 * accumulates into even core registers only, and GCC 12 moves the eight accumulators
 * around every iteration when it allocates them itself); otherwise, and under other
 * compilers, the same loop in intrinsics. The remaining pixels (windows clipped at the
 * left or right edge, fewer than four left in a row) go one at a time, four output
 * channels per pass.
 *
 * Padding: no zero point is ever read. A window reads its taps inside the input only;
 * the folded bias carries input_offset * (sum of all weights), and the taps left out
 * take their share back out:
 *   acc = folded_bias[c] + sum_valid w * x - input_offset * sum_{taps in padding}
 *         tap_sums[t][c]     (int32, wrapping, as TFLM's accumulator)
 * which is TFLM's bias[c] + sum_valid w * (x + input_offset) exactly.
 *
 * Requantization as the other MVE kernels (ekd_mve_fixedpoint.h). The residual ADD is
 * the vector form of ekd_add_element (ekd_add_fast.h, whose checks and prepared
 * constants it uses): VQRDMULH and the rounding shift compute TFLM's
 * MultiplyByQuantizedMultiplierSmallerThanOneExp exactly for any accumulator, so they
 * give ekd_add_element's bytes wherever ekd_add_fast_valid holds.
 *
 * In-place contract (edgekd/codegen/inplace.py): RasterOrder(group=4, reads_first=False).
 * Pixels in raster order, at most four (of one output row) in flight; each pass over two
 * channels reads the four windows again after the previous pass wrote its two channels
 * of those four pixels, so reads and writes interleave within the group (single pixels:
 * a group of one, interleaved likewise). The residual may be the output itself: each
 * residual byte is loaded (four pixels of one channel, or four channels of one pixel) by
 * the same step that then stores those four output bytes.
 */
#include "edgekd/ekd.h"

#if EKD_HAVE_MVE

#include "ekd_add_fast.h"
#include "ekd_mve_conv.h"
#include "ekd_validate.h"

/* Everything a block needs from the layer, loop-invariant. */
typedef struct {
    const int8_t *filter;
    const int32_t *folded_bias, *multiplier, *shift, *tap_sums;
    int32_t in_c, kernel_h, kernel_w, out_c;
    int32_t filter_row;  /* kernel_h * kernel_w * in_c: one output channel's weights */
    int32_t filter_krow; /* kernel_w * in_c: one kernel row of a channel's weights */
    int32_t input_row;   /* in_w * in_c: one input row */
    int32_t input_offset, output_offset, activation_min, activation_max;
    int right_only; /* every shift <= 0 */
    const int8_t *residual; /* the residual input of the layer, or NULL */
    ekd_add_prepared add;
    int32_t add_scale; /* 2^left_shift */
} ekd_direct_layer;

/* Four output pixels of one output row whose windows have every column inside the
 * input; kernel rows ky0 .. ky0 + rows - 1 are inside (the same for all four). */
typedef struct {
    const int8_t *x; /* pixel 0's window at kernel row ky0 (the others follow) */
    int32_t spacing; /* bytes from one window to the next: stride_w * in_c */
    int32_t ky0, rows;
} ekd_direct_block;

/* The sum of tap_sums[t][c] (sums0 = tap_sums + c, sums1 for the pass's other channel)
 * over the kernel rows of a block's windows that lie in the padding (every column is
 * inside): the taps before row ky0 and from row ky1 on. What those taps would have
 * contributed, divided by the zero point; wrapping, as the accumulator. */
static inline __attribute__((always_inline)) void ekd_direct_row_padding(
    const ekd_direct_layer *s, const int32_t *sums0, const int32_t *sums1, int32_t ky0,
    int32_t ky1, uint32_t *sa, uint32_t *sc)
{
    const int32_t out_c = s->out_c;
    const int32_t taps = s->kernel_h * s->kernel_w;
    uint32_t a = 0, c = 0;
    int32_t t;
    for (t = 0; t < ky0 * s->kernel_w; ++t) {
        a += (uint32_t)sums0[t * out_c];
        c += (uint32_t)sums1[t * out_c];
    }
    for (t = ky1 * s->kernel_w; t < taps; ++t) {
        a += (uint32_t)sums0[t * out_c];
        c += (uint32_t)sums1[t * out_c];
    }
    *sa = a;
    *sc = c;
}

/* TFLM's int8 ADD of the conv's clamped output x1 and the residual x2, four lanes:
 * ekd_add_element's arithmetic with VQRDMULH and rounding shifts. */
static inline __attribute__((always_inline)) int32x4_t ekd_direct_add(
    const ekd_direct_layer *s, int32x4_t x1, int32x4_t x2)
{
    const ekd_add_prepared *a = &s->add;
    /* (x + offset) << left_shift, exact: |x + offset| <= 383, left_shift <= 20. */
    const int32x4_t shifted1 = vmlaq_n_s32(vdupq_n_s32(a->in1.offset_shifted), x1,
                                           s->add_scale);
    const int32x4_t shifted2 = vmlaq_n_s32(vdupq_n_s32(a->in2.offset_shifted), x2,
                                           s->add_scale);
    const int32x4_t scaled1 = ekd_mve_rounding_divide_by_pot(
        vqrdmulhq_n_s32(shifted1, a->in1.multiplier), vdupq_n_s32(-a->in1.right_shift));
    const int32x4_t scaled2 = ekd_mve_rounding_divide_by_pot(
        vqrdmulhq_n_s32(shifted2, a->in2.multiplier), vdupq_n_s32(-a->in2.right_shift));
    const int32x4_t sum = vaddq_s32(scaled1, scaled2);
    const int32x4_t out = ekd_mve_rounding_divide_by_pot(
        vqrdmulhq_n_s32(sum, a->out_multiplier), vdupq_n_s32(-a->out_right_shift));
    return ekd_mve_offset_clamp(out, a->out_offset, a->activation_min, a->activation_max);
}

/* Four lanes of accumulators (bias added), one channel's multiplier and shift per lane
 * -> requantized, offset and clamped lanes. */
static inline __attribute__((always_inline)) int32x4_t ekd_direct_output(
    const ekd_direct_layer *s, int32x4_t v, int32x4_t multiplier, int32x4_t shift)
{
    v = s->right_only ? ekd_mve_requantize_right(v, multiplier, shift)
                      : ekd_mve_requantize(v, multiplier, shift);
    return ekd_mve_offset_clamp(v, s->output_offset, s->activation_min, s->activation_max);
}

/* Channel oc of the four pixels of a block: folded bias, requantization, offset, clamp,
 * the residual ADD, and the store to out[i * out_c + oc] (residual: res[i * out_c + oc],
 * loaded before the store). */
static inline __attribute__((always_inline)) void ekd_direct_store(
    const ekd_direct_layer *s, int32_t a0, int32_t a1, int32_t a2, int32_t a3, int32_t oc,
    int8_t *out, const int8_t *res, uint32x4_t offsets)
{
    int32x4_t v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    v = vsetq_lane_s32(a3, v, 3);
    v = vaddq_n_s32(v, s->folded_bias[oc]);
    v = ekd_mve_requantize_n(v, s->multiplier[oc], s->shift[oc]);
    v = ekd_mve_offset_clamp(v, s->output_offset, s->activation_min, s->activation_max);
    if (res != NULL) {
        v = ekd_direct_add(s, v, vldrbq_gather_offset_s32(res + oc, offsets));
    }
    vstrbq_scatter_offset_s32(out + oc, offsets, v);
}

/* acc - input_offset * padding_sum, wrapping. */
static inline int32_t ekd_direct_correct(int32_t acc, int32_t input_offset, uint32_t sum)
{
    return (int32_t)((uint32_t)acc - (uint32_t)input_offset * sum);
}

/*
 * One block through every output channel, two per pass (an odd last channel is computed
 * twice and stored once). `spacing` (a constant after inlining): the distance in bytes
 * between consecutive windows, 16, 32 or 64, read through one pointer (16, 32: immediate
 * offsets up to 96) or two (64: the second 128 bytes on); 0: b->spacing, four pointers.
 */
static inline __attribute__((always_inline)) void ekd_direct_block_n(
    const ekd_direct_layer *s, const ekd_direct_block *b, int8_t *out, const int8_t *res,
    const int spacing)
{
    const int32_t out_c = s->out_c;
    const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0u, 1), (uint32_t)out_c);
    const int32_t chunks = s->filter_krow / 16;
    const int32_t rows = b->rows;
    const int32_t d = spacing == 0 ? b->spacing : spacing;
    /* For the assembly loops: vectors per kernel row, then the step from the end of one
     * window row to the start of the next (the weights continue where they are). */
    int32_t control[3];
    int32_t oc;
    control[0] = chunks;
    control[1] = s->input_row - 16 * chunks;
    for (oc = 0; oc < out_c; oc += 2) {
        const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
        const int8_t *v0 = s->filter + (size_t)oc * s->filter_row + b->ky0 * s->filter_krow;
        const int8_t *v1 = s->filter + (size_t)oc1 * s->filter_row + b->ky0 * s->filter_krow;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
#if defined(__GNUC__) && !defined(__clang__)
        if ((spacing == 16 || spacing == 32) && rows > 0) {
            /* One pointer: the four windows at immediate offsets (after the first load's
             * post-increment of 16). In assembly because VMLADAVA adds into even
             * registers only: the eight accumulators take r0, r2, .. r12 and lr, which
             * GCC 12 does not manage without moving them around every iteration. */
            const int8_t *p = b->x;
            int32_t n, left = rows;
            __asm__ volatile(
                "2:\n\t"
                "ldr %[n], [%[ctl]]\n"
                "1:\n\t"
                "vldrb.8 q0, [%[v0]], #16\n\t"
                "vldrb.8 q1, [%[v1]], #16\n\t"
                "vldrb.8 q2, [%[p]], #16\n\t"
                "vmladava.s8 %[a0], q2, q0\n\t"
                "vmladava.s8 %[c0], q2, q1\n\t"
                "vldrb.8 q3, [%[p], %[o1]]\n\t"
                "vmladava.s8 %[a1], q3, q0\n\t"
                "vmladava.s8 %[c1], q3, q1\n\t"
                "vldrb.8 q2, [%[p], %[o2]]\n\t"
                "vmladava.s8 %[a2], q2, q0\n\t"
                "vmladava.s8 %[c2], q2, q1\n\t"
                "vldrb.8 q3, [%[p], %[o3]]\n\t"
                "vmladava.s8 %[a3], q3, q0\n\t"
                "vmladava.s8 %[c3], q3, q1\n\t"
                "subs %[n], %[n], #1\n\t"
                "bne 1b\n\t"
                "ldr %[n], [%[ctl], #4]\n\t"
                "add %[p], %[p], %[n]\n\t"
                "subs %[left], %[left], #1\n\t"
                "bne 2b"
                : [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3),
                  [c0] "+Te"(c0), [c1] "+Te"(c1), [c2] "+Te"(c2), [c3] "+Te"(c3),
                  [v0] "+r"(v0), [v1] "+r"(v1), [p] "+r"(p), [left] "+r"(left), [n] "=&r"(n)
                : [ctl] "r"(control), [o1] "i"(spacing - 16), [o2] "i"(2 * spacing - 16),
                  [o3] "i"(3 * spacing - 16)
                : "q0", "q1", "q2", "q3", "cc", "memory");
        } else if (spacing == 64 && rows > 0) {
            /* Two pointers, the second 128 bytes on; the row count in memory. */
            const int8_t *p = b->x, *q = b->x + 128;
            int32_t n;
            control[2] = rows;
            __asm__ volatile(
                "2:\n\t"
                "ldr %[n], [%[ctl]]\n"
                "1:\n\t"
                "vldrb.8 q0, [%[v0]], #16\n\t"
                "vldrb.8 q1, [%[v1]], #16\n\t"
                "vldrb.8 q2, [%[p]], #16\n\t"
                "vmladava.s8 %[a0], q2, q0\n\t"
                "vmladava.s8 %[c0], q2, q1\n\t"
                "vldrb.8 q3, [%[p], #48]\n\t"
                "vmladava.s8 %[a1], q3, q0\n\t"
                "vmladava.s8 %[c1], q3, q1\n\t"
                "vldrb.8 q2, [%[q]], #16\n\t"
                "vmladava.s8 %[a2], q2, q0\n\t"
                "vmladava.s8 %[c2], q2, q1\n\t"
                "vldrb.8 q3, [%[q], #48]\n\t"
                "vmladava.s8 %[a3], q3, q0\n\t"
                "vmladava.s8 %[c3], q3, q1\n\t"
                "subs %[n], %[n], #1\n\t"
                "bne 1b\n\t"
                "ldr %[n], [%[ctl], #4]\n\t"
                "add %[p], %[p], %[n]\n\t"
                "add %[q], %[q], %[n]\n\t"
                "ldr %[n], [%[ctl], #8]\n\t"
                "subs %[n], %[n], #1\n\t"
                "str %[n], [%[ctl], #8]\n\t"
                "bne 2b"
                : [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3),
                  [c0] "+Te"(c0), [c1] "+Te"(c1), [c2] "+Te"(c2), [c3] "+Te"(c3),
                  [v0] "+r"(v0), [v1] "+r"(v1), [p] "+r"(p), [q] "+r"(q), [n] "=&r"(n)
                : [ctl] "r"(control)
                : "q0", "q1", "q2", "q3", "cc", "memory");
        } else
#endif
        {
            const int8_t *x = b->x;
            int32_t r, n;
            for (r = 0; r < rows; ++r) {
                const int8_t *p0 = x, *p1 = x + d, *p2 = x + 2 * d, *p3 = x + 3 * d;
                for (n = chunks; n > 0; --n) {
                    const int8x16_t f0 = vldrbq_s8(v0);
                    const int8x16_t f1 = vldrbq_s8(v1);
                    int8x16_t y;
                    y = vldrbq_s8(p0);
                    a0 = vmladavaq_s8(a0, y, f0);
                    c0 = vmladavaq_s8(c0, y, f1);
                    y = vldrbq_s8(p1);
                    a1 = vmladavaq_s8(a1, y, f0);
                    c1 = vmladavaq_s8(c1, y, f1);
                    y = vldrbq_s8(p2);
                    a2 = vmladavaq_s8(a2, y, f0);
                    c2 = vmladavaq_s8(c2, y, f1);
                    y = vldrbq_s8(p3);
                    a3 = vmladavaq_s8(a3, y, f0);
                    c3 = vmladavaq_s8(c3, y, f1);
                    v0 += 16;
                    v1 += 16;
                    p0 += 16;
                    p1 += 16;
                    p2 += 16;
                    p3 += 16;
                }
                x += s->input_row;
            }
        }
        if (rows < s->kernel_h) {
            /* Kernel rows in the padding (top or bottom), the same for all four. */
            uint32_t sa, sc;
            ekd_direct_row_padding(s, s->tap_sums + oc, s->tap_sums + oc1, b->ky0,
                                   b->ky0 + rows, &sa, &sc);
            a0 = ekd_direct_correct(a0, s->input_offset, sa);
            a1 = ekd_direct_correct(a1, s->input_offset, sa);
            a2 = ekd_direct_correct(a2, s->input_offset, sa);
            a3 = ekd_direct_correct(a3, s->input_offset, sa);
            c0 = ekd_direct_correct(c0, s->input_offset, sc);
            c1 = ekd_direct_correct(c1, s->input_offset, sc);
            c2 = ekd_direct_correct(c2, s->input_offset, sc);
            c3 = ekd_direct_correct(c3, s->input_offset, sc);
        }
        ekd_direct_store(s, a0, a1, a2, a3, oc, out, res, offsets);
        if (oc1 != oc) {
            ekd_direct_store(s, c0, c1, c2, c3, oc1, out, res, offsets);
        }
    }
}

/* The block routine for each window spacing, each compiled on its own (not inlined into
 * the pixel loop, not pre-scheduled) so that GCC keeps the inner loop in registers. */
#define EKD_DIRECT_BLOCK_FN(spacing)                                                          \
    static __attribute__((noinline)) EKD_MVE_NO_SCHEDULE void ekd_direct_block_##spacing(     \
        const ekd_direct_layer *s, const ekd_direct_block *b, int8_t *out, const int8_t *res) \
    {                                                                                         \
        ekd_direct_block_n(s, b, out, res, spacing);                                          \
    }
EKD_DIRECT_BLOCK_FN(16)
EKD_DIRECT_BLOCK_FN(32)
EKD_DIRECT_BLOCK_FN(64)
EKD_DIRECT_BLOCK_FN(0)

typedef void (*ekd_direct_block_fn)(const ekd_direct_layer *s, const ekd_direct_block *b,
                                    int8_t *out, const int8_t *res);

/*
 * One output pixel, any window: kernel rows [ky0, ky1) and columns [lo, hi) inside the
 * input (x: the window at (ky0, lo); unused when the window has none), the padding's
 * share taken out with tap_sums. Four output channels per pass (the last pass repeats
 * the last channel), stored as one predicated vector. The pixels at a row's left and
 * right edges and those left over after the blocks of four.
 */
static __attribute__((noinline)) EKD_MVE_NO_SCHEDULE void ekd_direct_pixel(
    const ekd_direct_layer *s, const int8_t *x, int32_t ky0, int32_t ky1, int32_t lo,
    int32_t hi, int8_t *out, const int8_t *res)
{
    const int32_t out_c = s->out_c;
    const int32_t rows = ky1 - ky0;
    const int32_t chunks = rows > 0 && hi > lo ? (hi - lo) * s->in_c / 16 : 0;
    const int32_t w_start = ky0 * s->filter_krow + lo * s->in_c;
    const int32_t w_step = s->filter_krow - chunks * 16;
    const int padded = rows < s->kernel_h || lo > 0 || hi < s->kernel_w;
    int32_t oc;
    for (oc = 0; oc < out_c; oc += 4) {
        const int32_t left = out_c - oc;
        const int32_t o1 = left > 1 ? oc + 1 : oc, o2 = left > 2 ? oc + 2 : oc,
                      o3 = left > 3 ? oc + 3 : oc;
        const mve_pred16_t lanes = vctp32q((uint32_t)left);
        const int8_t *w0 = s->filter + (size_t)oc * s->filter_row + w_start;
        const int8_t *w1 = s->filter + (size_t)o1 * s->filter_row + w_start;
        const int8_t *w2 = s->filter + (size_t)o2 * s->filter_row + w_start;
        const int8_t *w3 = s->filter + (size_t)o3 * s->filter_row + w_start;
        const int8_t *p = x;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int32x4_t v;
        int32_t r, n;
        for (r = 0; r < rows && chunks > 0; ++r) {
            const int8_t *q = p;
            for (n = chunks; n > 0; --n) {
                const int8x16_t y = vldrbq_s8(q);
                a0 = vmladavaq_s8(a0, y, vldrbq_s8(w0));
                a1 = vmladavaq_s8(a1, y, vldrbq_s8(w1));
                a2 = vmladavaq_s8(a2, y, vldrbq_s8(w2));
                a3 = vmladavaq_s8(a3, y, vldrbq_s8(w3));
                q += 16;
                w0 += 16;
                w1 += 16;
                w2 += 16;
                w3 += 16;
            }
            p += s->input_row;
            w0 += w_step;
            w1 += w_step;
            w2 += w_step;
            w3 += w_step;
        }
        v = vdupq_n_s32(a0);
        v = vsetq_lane_s32(a1, v, 1);
        v = vsetq_lane_s32(a2, v, 2);
        v = vsetq_lane_s32(a3, v, 3);
        if (padded) {
            /* The padding's share, four channels at a time: the taps of the kernel rows
             * outside, then the columns outside in the rows inside. */
            const int32_t *t = s->tap_sums + oc;
            const int32_t taps_row = s->kernel_w * out_c;
            int32x4_t sum = vdupq_n_s32(0);
            int32_t ky, kx;
            for (ky = 0; ky < s->kernel_h; ++ky, t += taps_row) {
                if (ky < ky0 || ky >= ky1) {
                    for (kx = 0; kx < s->kernel_w; ++kx) {
                        sum = vaddq_s32(sum, vldrwq_z_s32(t + kx * out_c, lanes));
                    }
                } else {
                    for (kx = 0; kx < lo; ++kx) {
                        sum = vaddq_s32(sum, vldrwq_z_s32(t + kx * out_c, lanes));
                    }
                    for (kx = hi; kx < s->kernel_w; ++kx) {
                        sum = vaddq_s32(sum, vldrwq_z_s32(t + kx * out_c, lanes));
                    }
                }
            }
            /* acc - input_offset * sum, wrapping (VMLA keeps the low 32 bits). */
            v = vmlaq_n_s32(v, sum, -s->input_offset);
        }
        v = vaddq_s32(v, vldrwq_z_s32(s->folded_bias + oc, lanes));
        v = ekd_direct_output(s, v, vldrwq_z_s32(s->multiplier + oc, lanes),
                              vldrwq_z_s32(s->shift + oc, lanes));
        if (res != NULL) {
            v = ekd_direct_add(s, v, vldrbq_z_s32(res + oc, lanes));
        }
        vstrbq_p_s32(out + oc, v, lanes);
    }
}

ekd_status ekd_conv2d_direct_s8_mve(const ekd_context *ctx, const ekd_conv_params *params,
                                    const ekd_per_channel_quant *quant,
                                    const ekd_dims *input_dims, const int8_t *input,
                                    const ekd_dims *filter_dims, const int8_t *filter,
                                    const int32_t *folded_bias,
                                    const int32_t *tap_sums,
                                    const ekd_dims *output_dims, int8_t *output,
                                    const ekd_residual *residual)
{
    ekd_direct_layer s;
    ekd_direct_block b;
    ekd_direct_block_fn block;
    int32_t in_h, in_w, in_c, kh, kw, out_h, out_w, out_c, stride_w, batch, oy, ox;
    int32_t ox_first, ox_end;
    ekd_status status;

    (void)ctx; /* no scratch */
    if (params == NULL || quant == NULL || input == NULL || filter == NULL ||
        folded_bias == NULL || tap_sums == NULL || output == NULL) {
        return EKD_ERROR_ARGUMENT;
    }
    status = ekd_validate_conv(params, quant, input_dims, filter_dims, output_dims);
    if (status != EKD_OK) {
        return status;
    }
    if (filter_dims->n != output_dims->c || filter_dims->c != input_dims->c ||
        input_dims->c % 16 != 0 || params->dilation_h != 1 || params->dilation_w != 1) {
        return EKD_ERROR_ARGUMENT;
    }
    if (residual != NULL &&
        (residual->input == NULL || !ekd_add_fast_valid(residual->params))) {
        return EKD_ERROR_ARGUMENT;
    }

    in_h = input_dims->h;
    in_w = input_dims->w;
    in_c = input_dims->c;
    kh = filter_dims->h;
    kw = filter_dims->w;
    out_h = output_dims->h;
    out_w = output_dims->w;
    out_c = output_dims->c;
    stride_w = params->stride_w;
    s.filter = filter;
    s.folded_bias = folded_bias;
    s.multiplier = quant->multiplier;
    s.shift = quant->shift;
    s.tap_sums = tap_sums;
    s.in_c = in_c;
    s.kernel_h = kh;
    s.kernel_w = kw;
    s.out_c = out_c;
    s.filter_row = kh * kw * in_c;
    s.filter_krow = kw * in_c;
    s.input_row = in_w * in_c;
    s.input_offset = params->input_offset;
    s.output_offset = params->output_offset;
    s.activation_min = params->activation_min;
    s.activation_max = params->activation_max;
    s.right_only = ekd_mve_shifts_right_only(quant->shift, out_c);
    s.residual = residual != NULL ? residual->input : NULL;
    if (residual != NULL) {
        s.add = ekd_add_prepare(residual->params);
        s.add_scale = (int32_t)1 << s.add.left_shift;
    } else {
        s.add_scale = 0;
    }

    b.spacing = stride_w * in_c;
    block = b.spacing == 16   ? ekd_direct_block_16
            : b.spacing == 32 ? ekd_direct_block_32
            : b.spacing == 64 ? ekd_direct_block_64
                              : ekd_direct_block_0;
    /* Output columns [ox_first, ox_end) have every window column inside the input: they
     * go in blocks of four; the others, and those left over, one at a time. */
    ox_first = ekd_min_s32((params->pad_w + stride_w - 1) / stride_w, out_w);
    ox_end = in_w + params->pad_w >= kw ? (in_w + params->pad_w - kw) / stride_w + 1 : 0;
    ox_end = ekd_max_s32(ox_first, ekd_min_s32(ox_end, out_w));

    for (batch = 0; batch < output_dims->n; ++batch) {
        const int8_t *image = input + (size_t)batch * in_h * in_w * in_c;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy = oy * params->stride_h - params->pad_h;
            const int32_t ky0 = ekd_min_s32(iy < 0 ? -iy : 0, kh);
            const int32_t ky1 = ekd_max_s32(ky0, ekd_min_s32(kh, in_h - iy));
            const size_t first = ((size_t)batch * out_h + (size_t)oy) * out_w;
            /* Pointers only into the input: a window with no row inside reads nothing. */
            const int8_t *row = ky1 > ky0 ? image + (size_t)(iy + ky0) * in_w * in_c : input;
            b.ky0 = ky0;
            b.rows = ky1 - ky0;
            ox = 0;
            while (ox < out_w) {
                const int32_t ix = ox * stride_w - params->pad_w;
                const size_t at = (first + (size_t)ox) * (size_t)out_c;
                if (ox >= ox_first && ox + EKD_MVE_BLOCK_PIXELS <= ox_end) {
                    b.x = ky1 > ky0 ? row + (size_t)ix * in_c : input;
                    block(&s, &b, output + at, s.residual != NULL ? s.residual + at : NULL);
                    ox += EKD_MVE_BLOCK_PIXELS;
                } else {
                    const int32_t lo = ekd_min_s32(ix < 0 ? -ix : 0, kw);
                    const int32_t hi = ekd_max_s32(lo, ekd_min_s32(kw, in_w - ix));
                    const int8_t *x = ky1 > ky0 && hi > lo ? row + (size_t)(ix + lo) * in_c
                                                           : input;
                    ekd_direct_pixel(&s, x, ky0, ky1, lo, hi, output + at,
                                     s.residual != NULL ? s.residual + at : NULL);
                    ++ox;
                }
            }
        }
    }
    return EKD_OK;
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int ekd_conv2d_direct_s8_mve_not_built;

#endif /* EKD_HAVE_MVE */
