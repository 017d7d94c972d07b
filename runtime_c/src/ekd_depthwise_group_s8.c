/*
 * The depthwise core of ekd_depthwise_group_s8.h in portable C99 (Cortex-M0/M3, RISC-V,
 * hosts).
 *
 * A group of four channels: its weights are copied once into int32 arrays on the stack,
 * and the input offset is folded into a per-window constant, bias + input_offset * (sum
 * of the weights of the taps inside the input), computed once for windows that lie inside
 * the input and per pixel at the borders. Per tap and channel that leaves a load of the
 * input, a load of the weight and a multiply-accumulate. Other groups (fewer channels, or
 * windows of more than EKD_DW_PREPARED_TAPS taps) take a plain loop.
 *
 * Armv6-M (Cortex-M0) has its own loop for the groups of four (ekd_dw_group4_v6m):
 * Thumb-1's sign-extending loads take only register offsets and MULS does not
 * accumulate, so the compiler's version of the loop above spills there. Written as
 * assembly, a tap is LDRB + SXTB + LDR (the prepared weight) + MULS + ADD per channel,
 * the four sums in r8-r11, and the requantization is ekd_requantize_v6m.h's (no 64-bit
 * product; a non-positive sum under a ReLU clamp needs none, a positive one takes its
 * sign-free form). A 3x3 window inside the input is unrolled (ekd_dw_window3x3_v6m:
 * LDRSB with a register offset, no loop counters).
 */
#include "ekd_dsp.h"

#if !EKD_ARM_DSP

#include "ekd_depthwise_group_s8.h"
#include "ekd_fixedpoint.h"
#include "ekd_requantize.h"
#if EKD_ARMV6M
#include "ekd_requantize_v6m.h"
#endif

static inline int8_t ekd_dw_output(int32_t acc, int32_t multiplier, int32_t right_shift,
                                   int32_t offset, int32_t lo, int32_t hi)
{
    const int32_t half = (int32_t)((uint32_t)1 << (right_shift - 1));
    const int32_t v = ekd_requantize_fast(acc, multiplier, right_shift, half) + offset;
    return (int8_t)ekd_clamp_s32(v, lo, hi);
}

/* The group's four channels' weights per tap (w0 w1 w2 w3), their biases (0 without one)
 * and, for a window entirely inside the input, bias + input_offset * sum(w), which wraps
 * as TFLM's int32 sum does (|sum(w)| <= 127 * taps and |input_offset| <= 255 keep the
 * product itself in range). Both group loops start from these. */
static void ekd_dw_group_prepare(const ekd_nn_dw_group *g, int32_t taps, int32_t *weights,
                                 int32_t bias[4], int32_t full_window[4])
{
    const int32_t input_offset = g->params->input_offset;
    int32_t i, c;
    for (c = 0; c < 4; ++c) {
        bias[c] = g->bias != NULL ? g->bias[c] : 0;
        full_window[c] = 0;
    }
    for (i = 0; i < taps; ++i) {
        for (c = 0; c < 4; ++c) {
            weights[4 * i + c] = g->filter[(size_t)i * g->channels + c];
            full_window[c] += weights[4 * i + c];
        }
    }
    for (c = 0; c < 4; ++c) {
        full_window[c] = ekd_wrapping_add_s32(bias[c], input_offset * full_window[c]);
    }
}

#if !EKD_ARMV6M
static void ekd_dw_group4(const ekd_nn_dw_group *g)
{
    const ekd_conv_params *p = g->params;
    const int32_t channels = g->channels;
    const int32_t kernel_h = g->kernel_h, kernel_w = g->kernel_w;
    const int32_t taps = kernel_h * kernel_w;
    const int32_t in_h = g->in_h, in_w = g->in_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
    const int32_t dilation_h = p->dilation_h, dilation_w = p->dilation_w;
    const int32_t pad_h = p->pad_h, pad_w = p->pad_w;
    const int32_t input_offset = p->input_offset;
    const int32_t out_offset = p->output_offset;
    const int32_t lo = p->activation_min, hi = p->activation_max;
    const int32_t x_step = dilation_w * channels;
    const int32_t row_step = dilation_h * in_w * channels;
    const int8_t *image = g->input;
    int8_t *out = g->output;
    int32_t weights[4 * EKD_DW_PREPARED_TAPS]; /* per tap: w0 w1 w2 w3 */
    int32_t multiplier[4], right_shift[4], bias[4], full_window[4];
    int32_t i, out_y, out_x;

    for (i = 0; i < 4; ++i) {
        multiplier[i] = g->multiplier[i];
        right_shift[i] = ekd_requantize_fast_shift(multiplier[i], g->shift[i]);
    }
    ekd_dw_group_prepare(g, taps, weights, bias, full_window);

    for (out_y = 0; out_y < g->out_h; ++out_y) {
        const int32_t y0 = out_y * stride_h - pad_h;
        int32_t ky0, ky1;
        ekd_dw_valid_taps(y0, dilation_h, kernel_h, in_h, &ky0, &ky1);
        for (out_x = 0; out_x < g->out_w; ++out_x) {
            const int32_t x0 = out_x * stride_w - pad_w;
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0; /* the window's share of the offset */
            int32_t kx0, kx1;
            ekd_dw_valid_taps(x0, dilation_w, kernel_w, in_w, &kx0, &kx1);
            if (ky1 > ky0 && kx1 > kx0) {
                const int8_t *x_row = image + ((size_t)(y0 + ky0 * dilation_h) * in_w +
                                               (size_t)(x0 + kx0 * dilation_w)) * channels;
                const int32_t *w_row = weights + 4 * (ky0 * kernel_w + kx0);
                const int32_t cols = kx1 - kx0;
                int32_t ky, kx;
                /* |x| <= 128 and at most EKD_DW_PREPARED_TAPS taps: no overflow. */
                for (ky = ky0; ky < ky1; ++ky) {
                    const int8_t *x = x_row;
                    const int32_t *w = w_row;
                    for (kx = 0; kx < cols; ++kx) {
                        a0 += w[0] * x[0];
                        a1 += w[1] * x[1];
                        a2 += w[2] * x[2];
                        a3 += w[3] * x[3];
                        x += x_step;
                        w += 4;
                    }
                    x_row += row_step;
                    w_row += 4 * kernel_w;
                }
                if ((ky1 - ky0) * cols == taps) {
                    s0 = full_window[0];
                    s1 = full_window[1];
                    s2 = full_window[2];
                    s3 = full_window[3];
                } else {
                    w_row = weights + 4 * (ky0 * kernel_w + kx0);
                    for (ky = ky0; ky < ky1; ++ky, w_row += 4 * kernel_w) {
                        for (kx = 0; kx < cols; ++kx) {
                            s0 += w_row[4 * kx];
                            s1 += w_row[4 * kx + 1];
                            s2 += w_row[4 * kx + 2];
                            s3 += w_row[4 * kx + 3];
                        }
                    }
                    s0 = ekd_wrapping_add_s32(bias[0], input_offset * s0);
                    s1 = ekd_wrapping_add_s32(bias[1], input_offset * s1);
                    s2 = ekd_wrapping_add_s32(bias[2], input_offset * s2);
                    s3 = ekd_wrapping_add_s32(bias[3], input_offset * s3);
                }
            } else {
                s0 = bias[0];
                s1 = bias[1];
                s2 = bias[2];
                s3 = bias[3];
            }
            out[0] = ekd_dw_output(ekd_wrapping_add_s32(a0, s0), multiplier[0], right_shift[0],
                                   out_offset, lo, hi);
            out[1] = ekd_dw_output(ekd_wrapping_add_s32(a1, s1), multiplier[1], right_shift[1],
                                   out_offset, lo, hi);
            out[2] = ekd_dw_output(ekd_wrapping_add_s32(a2, s2), multiplier[2], right_shift[2],
                                   out_offset, lo, hi);
            out[3] = ekd_dw_output(ekd_wrapping_add_s32(a3, s3), multiplier[3], right_shift[3],
                                   out_offset, lo, hi);
            out += channels;
        }
    }
}

#endif /* !EKD_ARMV6M */

#if EKD_ARMV6M
/* The assembly is in unified syntax, which GCC assumes for Thumb-1 only when built with
 * -masm-syntax-unified; it restores its own after each asm statement. */
#define EKD_V6M_UNIFIED ".syntax unified\n\t"

/* One channel of a tap: the input byte c at r, times the prepared weight c, into `acc`. */
#define EKD_DW_CHANNEL(c, acc)                       \
    "ldrb   %[x], [%[r], #" #c "]\n\t"              \
    "sxtb   %[x], %[x]\n\t"                          \
    "ldr    %[w], [%[wp], #" #c " * 4]\n\t"         \
    "muls   %[x], %[w], %[x]\n\t"                    \
    "add    " #acc ", %[x]\n\t"

/* The pieces both window loops share. The four channels' sums start from ctl[9..12] in
 * r8-r11; lr counts the window's rows (ctl[4]); each row runs taps until wp reaches its
 * end (ctl[1] bytes of weights on); after a row, r and wp step to the next (ctl[2],
 * ctl[3]); at the end the sums go back to ctl[5..8]. */
#define EKD_DW_LOAD_SUMS                             \
    "ldr    %[x], [%[ctl], #36]\n\t"                \
    "mov    r8, %[x]\n\t"                           \
    "ldr    %[x], [%[ctl], #40]\n\t"                \
    "mov    r9, %[x]\n\t"                           \
    "ldr    %[x], [%[ctl], #44]\n\t"                \
    "mov    r10, %[x]\n\t"                          \
    "ldr    %[x], [%[ctl], #48]\n\t"                \
    "mov    r11, %[x]\n\t"

#define EKD_DW_ROWS                                  \
    "ldr    %[x], [%[ctl], #16]\n\t"                \
    "mov    lr, %[x]\n"                              \
    "2:\n\t"                                         \
    "ldr    %[end], [%[ctl], #4]\n\t"               \
    "adds   %[end], %[wp], %[end]\n"                 \
    "1:\n\t"

#define EKD_DW_NEXT_ROW_AND_STORE_SUMS               \
    "ldr    %[x], [%[ctl], #8]\n\t"                 \
    "adds   %[r], %[r], %[x]\n\t"                   \
    "ldr    %[x], [%[ctl], #12]\n\t"                \
    "adds   %[wp], %[wp], %[x]\n\t"                 \
    "mov    %[x], lr\n\t"                           \
    "subs   %[x], #1\n\t"                           \
    "mov    lr, %[x]\n\t"                           \
    "bne    2b\n\t"                                 \
    "mov    %[x], r8\n\t"                           \
    "str    %[x], [%[ctl], #20]\n\t"                \
    "mov    %[x], r9\n\t"                           \
    "str    %[x], [%[ctl], #24]\n\t"                \
    "mov    %[x], r10\n\t"                          \
    "str    %[x], [%[ctl], #28]\n\t"                \
    "mov    %[x], r11\n\t"                          \
    "str    %[x], [%[ctl], #32]\n\t"

/* The taps of a window inside the input, rows ky0..ky1 and columns kx0..kx1: r at the
 * first tap's input (the group's first channel), wp at its prepared weights. ctl holds
 * x_step, 16 * columns, the rows' further steps (input bytes, weight bytes) and the row
 * count; the four channels' sums come back in ctl[5..8], started from ctl[9..12] (the
 * window's bias and input offset term, so that they are the accumulators the
 * requantization takes; they wrap as TFLM's int32 sums do). r8-r11 accumulate, r12 holds
 * x_step, lr counts the rows (GCC keeps no variable in a high register, so the asm
 * statement owns them and moves its sums out through memory). */
static inline void ekd_dw_window_v6m(const int8_t *r, const int32_t *wp, int32_t *ctl)
{
    int32_t x, w, end;
    __asm__ volatile(EKD_V6M_UNIFIED EKD_DW_LOAD_SUMS
                     "ldr    %[x], [%[ctl], #0]\n\t"
                     "mov    r12, %[x]\n\t"
                     EKD_DW_ROWS
                     EKD_DW_CHANNEL(0, r8)
                     EKD_DW_CHANNEL(1, r9)
                     EKD_DW_CHANNEL(2, r10)
                     EKD_DW_CHANNEL(3, r11)
                     "add    %[r], r12\n\t"
                     "adds   %[wp], #16\n\t"
                     "cmp    %[wp], %[end]\n\t"
                     "bne    1b\n\t"
                     EKD_DW_NEXT_ROW_AND_STORE_SUMS
                     : [r] "+l"(r), [wp] "+l"(wp), [x] "=&l"(x), [w] "=&l"(w),
                       [end] "=&l"(end)
                     : [ctl] "l"(ctl)
                     : "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}

/* One tap of a 3x3 window inside the input: channel c's input at p0 + o0 (c = 0),
 * p1 + o0 (1), p0 + o2 (2), p1 + o2 (3), where p1 = p0 + 1 and o2 = o0 + 2. LDRSB's
 * register offset saves the SXTB of EKD_DW_CHANNEL; the offsets, not the pointers, step
 * from tap to tap. `k` is the tap's place in the weights from wp. */
#define EKD_DW3_TAP(k)                               \
    "ldrsb  %[x], [%[p0], %[o0]]\n\t"               \
    "ldr    %[w], [%[wp], #" #k " * 16]\n\t"        \
    "muls   %[x], %[w], %[x]\n\t"                    \
    "add    r8, %[x]\n\t"                            \
    "ldrsb  %[x], [%[p1], %[o0]]\n\t"               \
    "ldr    %[w], [%[wp], #" #k " * 16 + 4]\n\t"    \
    "muls   %[x], %[w], %[x]\n\t"                    \
    "add    r9, %[x]\n\t"                            \
    "ldrsb  %[x], [%[p0], %[o2]]\n\t"               \
    "ldr    %[w], [%[wp], #" #k " * 16 + 8]\n\t"    \
    "muls   %[x], %[w], %[x]\n\t"                    \
    "add    r10, %[x]\n\t"                           \
    "ldrsb  %[x], [%[p1], %[o2]]\n\t"               \
    "ldr    %[w], [%[wp], #" #k " * 16 + 12]\n\t"   \
    "muls   %[x], %[w], %[x]\n\t"                    \
    "add    r11, %[x]\n\t"

/* The next tap: x_step (r12) or, after a row's third, the step to the next row (lr). */
#define EKD_DW3_STEP(reg)                            \
    "add    %[o0], " reg "\n\t"                      \
    "add    %[o2], " reg "\n\t"

/* ekd_dw_window_v6m for a 3x3 kernel, unrolled: no loop counters, 17 instructions per
 * tap instead of 24 plus each row's steps. full[9..12] start the sums, full[0] is
 * x_step, full[13] the step from a row's third tap to the next row's first; the sums
 * come back in sums[0..3]. Seven low registers (r7 may be the frame pointer). */
static inline void ekd_dw_window3x3_v6m(const int8_t *r, const int32_t *wp,
                                        const int32_t *full, int32_t sums[4])
{
    uintptr_t p0 = (uintptr_t)r, o0 = (uintptr_t)full, p1, o2, x, w;
    uintptr_t wq = (uintptr_t)wp;
    __asm__ volatile(EKD_V6M_UNIFIED "ldr    %[x], [%[o0], #36]\n\t"
                     "mov    r8, %[x]\n\t"
                     "ldr    %[x], [%[o0], #40]\n\t"
                     "mov    r9, %[x]\n\t"
                     "ldr    %[x], [%[o0], #44]\n\t"
                     "mov    r10, %[x]\n\t"
                     "ldr    %[x], [%[o0], #48]\n\t"
                     "mov    r11, %[x]\n\t"
                     "ldr    %[x], [%[o0], #0]\n\t"
                     "mov    r12, %[x]\n\t"
                     "ldr    %[x], [%[o0], #52]\n\t"
                     "mov    lr, %[x]\n\t"
                     "adds   %[p1], %[p0], #1\n\t"
                     "movs   %[o0], #0\n\t"
                     "movs   %[o2], #2\n\t"
                     EKD_DW3_TAP(0) EKD_DW3_STEP("r12")
                     EKD_DW3_TAP(1) EKD_DW3_STEP("r12")
                     EKD_DW3_TAP(2) EKD_DW3_STEP("lr")
                     EKD_DW3_TAP(3) EKD_DW3_STEP("r12")
                     "adds   %[wp], #64\n\t" /* LDR's immediate offset ends at 124 */
                     EKD_DW3_TAP(0) EKD_DW3_STEP("r12")
                     EKD_DW3_TAP(1) EKD_DW3_STEP("lr")
                     EKD_DW3_TAP(2) EKD_DW3_STEP("r12")
                     EKD_DW3_TAP(3) EKD_DW3_STEP("r12")
                     EKD_DW3_TAP(4)
                     "mov    %[o0], r8\n\t"
                     "mov    %[p1], r9\n\t"
                     "mov    %[o2], r10\n\t"
                     "mov    %[x], r11\n\t"
                     : [p0] "+l"(p0), [o0] "+l"(o0), [wp] "+l"(wq), [p1] "=&l"(p1),
                       [o2] "=&l"(o2), [x] "=&l"(x), [w] "=&l"(w)
                     :
                     : "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
    sums[0] = ekd_s32_from_bits((uint32_t)o0);
    sums[1] = ekd_s32_from_bits((uint32_t)p1);
    sums[2] = ekd_s32_from_bits((uint32_t)o2);
    sums[3] = ekd_s32_from_bits((uint32_t)x);
}

/* One channel of a tap with the input offset (r12) added to the input. */
#define EKD_DW_CHANNEL_OFFSET(c, acc)                \
    "ldrb   %[x], [%[r], #" #c "]\n\t"              \
    "sxtb   %[x], %[x]\n\t"                          \
    "add    %[x], r12\n\t"                           \
    "ldr    %[w], [%[wp], #" #c " * 4]\n\t"         \
    "muls   %[x], %[w], %[x]\n\t"                    \
    "add    " #acc ", %[x]\n\t"

/* ekd_dw_window_v6m for a window the input clips (the output borders): the input offset
 * (ctl[13]) goes onto each input, TFLM's own order, so that ctl[9..12] start from the
 * bias alone and no sum of the clipped window's weights is needed. One instruction more
 * per tap and channel, x_step read from ctl each tap. */
static inline void ekd_dw_window_offset_v6m(const int8_t *r, const int32_t *wp,
                                            int32_t *ctl)
{
    int32_t x, w, end;
    __asm__ volatile(EKD_V6M_UNIFIED EKD_DW_LOAD_SUMS
                     "ldr    %[x], [%[ctl], #52]\n\t"
                     "mov    r12, %[x]\n\t"
                     EKD_DW_ROWS
                     EKD_DW_CHANNEL_OFFSET(0, r8)
                     EKD_DW_CHANNEL_OFFSET(1, r9)
                     EKD_DW_CHANNEL_OFFSET(2, r10)
                     EKD_DW_CHANNEL_OFFSET(3, r11)
                     "ldr    %[w], [%[ctl], #0]\n\t"
                     "adds   %[r], %[r], %[w]\n\t"
                     "adds   %[wp], #16\n\t"
                     "cmp    %[wp], %[end]\n\t"
                     "bne    1b\n\t"
                     EKD_DW_NEXT_ROW_AND_STORE_SUMS
                     : [r] "+l"(r), [wp] "+l"(wp), [x] "=&l"(x), [w] "=&l"(w),
                       [end] "=&l"(end)
                     : [ctl] "l"(ctl)
                     : "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}

static void ekd_dw_group4_v6m(const ekd_nn_dw_group *g)
{
    const ekd_conv_params *p = g->params;
    const int32_t channels = g->channels;
    const int32_t kernel_h = g->kernel_h, kernel_w = g->kernel_w;
    const int32_t taps = kernel_h * kernel_w;
    const int32_t in_h = g->in_h, in_w = g->in_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
    const int32_t dilation_h = p->dilation_h, dilation_w = p->dilation_w;
    const int32_t pad_h = p->pad_h, pad_w = p->pad_w;
    const int32_t input_offset = p->input_offset;
    const int32_t out_offset = p->output_offset;
    const int32_t lo = p->activation_min, hi = p->activation_max;
    const int relu = out_offset <= lo; /* then an accumulator <= 0 gives lo */
    const int32_t x_step = dilation_w * channels;
    const int32_t row_step = dilation_h * in_w * channels;
    const int8_t *image = g->input;
    int8_t *out = g->output;
    int32_t weights[4 * EKD_DW_PREPARED_TAPS]; /* per tap: w0 w1 w2 w3 */
    ekd_requant_v6m requant[4];
    int32_t bias[4], full_window[4];
    const int32_t x_span = (kernel_w - 1) * dilation_w;
    const int kernel3x3 = kernel_h == 3 && kernel_w == 3;
    int32_t ctl[14], full[14];
    int32_t i, out_y, out_x;

    for (i = 0; i < 4; ++i) {
        requant[i] = ekd_requant_v6m_make(g->multiplier[i], g->shift[i]);
    }
    ekd_dw_group_prepare(g, taps, weights, bias, full_window);
    /* A window inside the input: every tap, the same steps for every pixel. */
    full[0] = x_step;
    full[1] = 16 * kernel_w;
    full[2] = row_step - kernel_w * x_step;
    full[3] = 0;
    full[4] = kernel_h;
    full[13] = row_step - (kernel_w - 1) * x_step;
    for (i = 0; i < 4; ++i) {
        full[9 + i] = full_window[i];
        ctl[9 + i] = bias[i];
    }
    ctl[0] = x_step;
    ctl[13] = input_offset;

    for (out_y = 0; out_y < g->out_h; ++out_y) {
        const int32_t y0 = out_y * stride_h - pad_h;
        int32_t ky0, ky1;
        ekd_dw_valid_taps(y0, dilation_h, kernel_h, in_h, &ky0, &ky1);
        for (out_x = 0; out_x < g->out_w; ++out_x) {
            const int32_t x0 = out_x * stride_w - pad_w;
            const int32_t *sums = full + 5;
            int32_t c;
            /* |x| <= 128 and at most EKD_DW_PREPARED_TAPS taps: no overflow. */
            if (ky1 - ky0 == kernel_h && x0 >= 0 && x0 + x_span < in_w && kernel3x3) {
                ekd_dw_window3x3_v6m(image + ((size_t)y0 * in_w + (size_t)x0) * channels,
                                     weights, full, full + 5);
            } else if (ky1 - ky0 == kernel_h && x0 >= 0 && x0 + x_span < in_w) {
                ekd_dw_window_v6m(image + ((size_t)y0 * in_w + (size_t)x0) * channels,
                                  weights, full);
            } else {
                int32_t kx0, kx1;
                sums = ctl + 5;
                ekd_dw_valid_taps(x0, dilation_w, kernel_w, in_w, &kx0, &kx1);
                if (ky1 > ky0 && kx1 > kx0) {
                    const int32_t cols = kx1 - kx0;
                    ctl[1] = 16 * cols;
                    ctl[2] = row_step - cols * x_step;
                    ctl[3] = 16 * (kernel_w - cols);
                    ctl[4] = ky1 - ky0;
                    ekd_dw_window_offset_v6m(
                        image + ((size_t)(y0 + ky0 * dilation_h) * in_w +
                                 (size_t)(x0 + kx0 * dilation_w)) * channels,
                        weights + 4 * (ky0 * kernel_w + kx0), ctl);
                } else {
                    for (c = 0; c < 4; ++c) {
                        ctl[5 + c] = bias[c];
                    }
                }
            }
            if (relu) { /* a positive sum: no sign term, one bound to check */
                for (c = 0; c < 4; ++c) {
                    const int32_t v = sums[c];
                    out[c] = (int8_t)(v <= 0 ? lo
                                             : ekd_clamp_s32(ekd_requantize_v6m_positive(
                                                                 v, &requant[c]) + out_offset,
                                                             lo, hi));
                }
            } else {
                for (c = 0; c < 4; ++c) {
                    out[c] = (int8_t)ekd_clamp_s32(
                        ekd_requantize_v6m(sums[c], &requant[c]) + out_offset, lo, hi);
                }
            }
            out += channels;
        }
    }
}
#endif /* EKD_ARMV6M */

/* Any group: one channel at a time, the weights read from the filter. */
static void ekd_dw_group_plain(const ekd_nn_dw_group *g)
{
    const ekd_conv_params *p = g->params;
    const int32_t channels = g->channels, kernel_w = g->kernel_w;
    const int32_t input_offset = p->input_offset;
    int32_t c, out_y, out_x;
    for (c = 0; c < g->count; ++c) {
        const int32_t multiplier = g->multiplier[c];
        const int32_t right_shift = ekd_requantize_fast_shift(multiplier, g->shift[c]);
        const int32_t bias = g->bias != NULL ? g->bias[c] : 0;
        int8_t *out = g->output + c;
        for (out_y = 0; out_y < g->out_h; ++out_y) {
            const int32_t y0 = out_y * p->stride_h - p->pad_h;
            int32_t ky0, ky1;
            ekd_dw_valid_taps(y0, p->dilation_h, g->kernel_h, g->in_h, &ky0, &ky1);
            for (out_x = 0; out_x < g->out_w; ++out_x) {
                const int32_t x0 = out_x * p->stride_w - p->pad_w;
                int32_t acc = 0;
                int32_t kx0, kx1, ky, kx;
                ekd_dw_valid_taps(x0, p->dilation_w, kernel_w, g->in_w, &kx0, &kx1);
                /* At most EKD_MAT_MULT_MAX_DEPTH taps of int8 * [-255, 255]. */
                for (ky = ky0; ky < ky1; ++ky) {
                    const int8_t *x_row = g->input + c +
                        (size_t)(y0 + ky * p->dilation_h) * g->in_w * channels;
                    const int8_t *w_row = g->filter + c + (size_t)ky * kernel_w * channels;
                    for (kx = kx0; kx < kx1; ++kx) {
                        acc += w_row[(size_t)kx * channels] *
                               (x_row[(size_t)(x0 + kx * p->dilation_w) * channels] +
                                input_offset);
                    }
                }
                *out = ekd_dw_output(ekd_wrapping_add_s32(acc, bias), multiplier, right_shift,
                                     p->output_offset, p->activation_min, p->activation_max);
                out += channels;
            }
        }
    }
}

void ekd_nn_depthwise_group_s8(const ekd_nn_dw_group *group)
{
    if (group->count == 4 && group->kernel_h * group->kernel_w <= EKD_DW_PREPARED_TAPS) {
#if EKD_ARMV6M
        ekd_dw_group4_v6m(group);
#else
        ekd_dw_group4(group);
#endif
    } else {
        ekd_dw_group_plain(group);
    }
}

#else
typedef int ekd_depthwise_group_s8_unused; /* ISO C forbids an empty translation unit */
#endif /* !EKD_ARM_DSP */
