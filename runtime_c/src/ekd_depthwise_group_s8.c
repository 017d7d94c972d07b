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
 */
#include "ekd_dsp.h"

#if !EKD_ARM_DSP

#include "ekd_depthwise_group_s8.h"
#include "ekd_fixedpoint.h"
#include "ekd_requantize.h"

static inline int8_t ekd_dw_output(int32_t acc, int32_t multiplier, int32_t right_shift,
                                   int32_t offset, int32_t lo, int32_t hi)
{
    const int32_t half = (int32_t)((uint32_t)1 << (right_shift - 1));
    const int32_t v = ekd_requantize_fast(acc, multiplier, right_shift, half) + offset;
    return (int8_t)ekd_clamp_s32(v, lo, hi);
}

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
        bias[i] = g->bias != NULL ? g->bias[i] : 0;
        full_window[i] = 0;
    }
    for (i = 0; i < taps; ++i) {
        int32_t c;
        for (c = 0; c < 4; ++c) {
            weights[4 * i + c] = g->filter[(size_t)i * channels + c];
            full_window[c] += weights[4 * i + c];
        }
    }
    /* bias + input_offset * sum(w) wraps as TFLM's int32 sum does; |sum(w)| <= 127 * taps
     * and |input_offset| <= 255 keep the product itself in range. */
    for (i = 0; i < 4; ++i) {
        full_window[i] = ekd_wrapping_add_s32(bias[i], input_offset * full_window[i]);
    }

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
        ekd_dw_group4(group);
    } else {
        ekd_dw_group_plain(group);
    }
}

#else
typedef int ekd_depthwise_group_s8_unused; /* ISO C forbids an empty translation unit */
#endif /* !EKD_ARM_DSP */
