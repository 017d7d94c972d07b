/*
 * DEPTHWISE_CONV_2D with depth_multiplier 1, Helium (MVE) variant: four channels per
 * vector, int8 inputs and weights widened to int32 as they load. Bit-exact with TFLM's
 * reference_integer_ops::DepthwiseConvPerChannel (see ekd_mve.h for the folded bias and
 * the packed filter, [ceil(c / 4)][kernel_h * kernel_w][4], which every channel block
 * reads front to back).
 *
 * A tap in the padding contributes zero_point * weight, which cancels its share of the
 * folded bias: with channels a multiple of 4, a window reads those taps from a row of
 * zero points in scratch (a 3x3 one through one unrolled path, others up to
 * EKD_DW_MVE_TAPS taps through a loop over a per-pixel list of tap addresses); other
 * layers multiply the zero point tap by tap.
 *
 * In-place contract (edgekd/codegen/inplace.py mirrors it): pixels in raster order, one
 * at a time, written four channels at a time while the pixel is still being read.
 */
#include "edgekd/ekd.h"

#if EKD_HAVE_MVE

#include "ekd_mve_conv.h"
#include "ekd_validate.h"

/* Everything a pixel needs, loop-invariant (locals: stores through int8_t pointers could
 * alias the caller's structs as far as the compiler knows). */
typedef struct {
    const int32_t *folded_bias, *multiplier, *shift;
    int32_t output_offset, activation_min, activation_max, zero_point;
    int32_t in_h, in_w, channels, kernel_h, kernel_w, dilation_h, dilation_w;
    int right_only; /* every shift <= 0 */
} ekd_dw_constants;

/* acc + x * w per lane (MVE multiplies vectors lane by lane, and accumulates only a
 * vector times a scalar). */
static inline __attribute__((always_inline)) int32x4_t ekd_dw_mla(int32x4_t acc, int32x4_t x,
                                                                  int32x4_t w)
{
    return vaddq_s32(acc, vmulq_s32(x, w));
}

/* Requantize, offset, clamp and store channels c .. c + 3 (`lanes` of them). */
static inline __attribute__((always_inline)) void ekd_dw_store(const ekd_dw_constants *k,
                                                               int32x4_t acc, int32_t c,
                                                               int8_t *out, mve_pred16_t lanes)
{
    acc = ekd_mve_requantize(acc, vldrwq_z_s32(k->multiplier + c, lanes),
                             vldrwq_z_s32(k->shift + c, lanes));
    acc = ekd_mve_offset_clamp(acc, k->output_offset, k->activation_min, k->activation_max);
    vstrbq_p_s32(out + c, acc, lanes);
}

/* acc + x * w for one tap, kept in order (EKD_MVE_KEEP). */
#define EKD_DW_TAP(acc, tap, w)                                                               \
    do {                                                                                      \
        (acc) = ekd_dw_mla((acc), vldrbq_s32(tap), vldrbq_s32(w));                            \
        EKD_MVE_KEEP(acc);                                                                    \
    } while (0)

/* One output pixel of a 3x3 kernel, channels a multiple of 4: tap t reads from taps[t]
 * (the input, or a row of zero points for a tap in the padding); `right_only` (a
 * constant after inlining): every shift is <= 0. */
static inline __attribute__((always_inline)) void ekd_dw_pixel_3x3(
    const ekd_dw_constants *k, const int8_t *const taps[9], const int8_t *w, int8_t *out,
    const int right_only)
{
    const int8_t *t0 = taps[0], *t1 = taps[1], *t2 = taps[2], *t3 = taps[3], *t4 = taps[4];
    const int8_t *t5 = taps[5], *t6 = taps[6], *t7 = taps[7], *t8 = taps[8];
    const int32_t *bias = k->folded_bias;
    const int32_t *multiplier = k->multiplier;
    const int32_t *shift = k->shift;
    const int32_t output_offset = k->output_offset;
    const int32_t act_min = k->activation_min, act_max = k->activation_max;
    int32_t blocks;
    for (blocks = k->channels / 4; blocks > 0; --blocks) {
        int32x4_t acc = vldrwq_s32(bias);
        EKD_DW_TAP(acc, t0, w);
        EKD_DW_TAP(acc, t1, w + 4);
        EKD_DW_TAP(acc, t2, w + 8);
        EKD_DW_TAP(acc, t3, w + 12);
        EKD_DW_TAP(acc, t4, w + 16);
        EKD_DW_TAP(acc, t5, w + 20);
        EKD_DW_TAP(acc, t6, w + 24);
        EKD_DW_TAP(acc, t7, w + 28);
        EKD_DW_TAP(acc, t8, w + 32);
        if (right_only) {
            acc = ekd_mve_requantize_right(acc, vldrwq_s32(multiplier), vldrwq_s32(shift));
        } else {
            acc = ekd_mve_requantize(acc, vldrwq_s32(multiplier), vldrwq_s32(shift));
        }
        acc = ekd_mve_offset_clamp(acc, output_offset, act_min, act_max);
        vstrbq_s32(out, acc);
        t0 += 4;
        t1 += 4;
        t2 += 4;
        t3 += 4;
        t4 += 4;
        t5 += 4;
        t6 += 4;
        t7 += 4;
        t8 += 4;
        w += 36;
        bias += 4;
        multiplier += 4;
        shift += 4;
        out += 4;
    }
}

/* The two cases, each compiled on its own and without pre-scheduling: that way GCC keeps
 * the chain of taps in three vector registers. */
static __attribute__((noinline)) EKD_MVE_NO_SCHEDULE void ekd_dw_pixel_3x3_right(
    const ekd_dw_constants *k, const int8_t *const taps[9], const int8_t *w, int8_t *out)
{
    ekd_dw_pixel_3x3(k, taps, w, out, 1);
}

static __attribute__((noinline)) EKD_MVE_NO_SCHEDULE void ekd_dw_pixel_3x3_any(
    const ekd_dw_constants *k, const int8_t *const taps[9], const int8_t *w, int8_t *out)
{
    ekd_dw_pixel_3x3(k, taps, w, out, 0);
}

/* Windows of up to this many taps, channels a multiple of 4, take ekd_dw_pixel_taps. */
#define EKD_DW_MVE_TAPS 80

/* One output pixel of any window of `count` taps, channels a multiple of 4: tap t reads
 * from taps[t] (the input, or the row of zero points for a tap in the padding), one loop
 * over the taps per four channels (a Kx1 or 1xK window as well as a 3x3 one). */
static __attribute__((noinline)) EKD_MVE_NO_SCHEDULE void ekd_dw_pixel_taps(
    const ekd_dw_constants *k, const int8_t *const *taps, int32_t count, const int8_t *w,
    int8_t *out)
{
    const int32_t channels = k->channels;
    const mve_pred16_t all = vctp32q(4u);
    int32_t c;
    for (c = 0; c < channels; c += 4) {
        int32x4_t acc = vldrwq_s32(k->folded_bias + c);
        int32_t t;
        for (t = 0; t < count; ++t, w += 4) {
            EKD_DW_TAP(acc, taps[t] + c, w);
        }
        ekd_dw_store(k, acc, c, out, all);
    }
}

/* Any output pixel of any kernel: taps outside the input multiply the zero point. */
static __attribute__((noinline)) void ekd_dw_pixel(const ekd_dw_constants *k,
                                                   const int8_t *image, int32_t in_y,
                                                   int32_t in_x, const int8_t *w, int8_t *out)
{
    const int32_t channels = k->channels;
    int32_t c;
    for (c = 0; c < channels; c += 4) {
        const mve_pred16_t lanes = vctp32q((uint32_t)(channels - c));
        int32x4_t acc = vldrwq_z_s32(k->folded_bias + c, lanes);
        int32_t ky, kx;
        for (ky = 0; ky < k->kernel_h; ++ky) {
            const int32_t y = in_y + ky * k->dilation_h;
            const int row_inside = y >= 0 && y < k->in_h;
            for (kx = 0; kx < k->kernel_w; ++kx) {
                const int32_t xx = in_x + kx * k->dilation_w;
                const int32x4_t wv = vldrbq_s32(w);
                if (row_inside && xx >= 0 && xx < k->in_w) {
                    const int8_t *px = image + ((size_t)y * k->in_w + (size_t)xx) * channels + c;
                    acc = ekd_dw_mla(acc, vldrbq_z_s32(px, lanes), wv);
                } else {
                    acc = vmlaq_n_s32(acc, wv, k->zero_point);
                }
                w += 4;
            }
        }
        ekd_dw_store(k, acc, c, out, lanes);
    }
}

int32_t ekd_depthwise_conv2d_s8_mve_scratch_size(const ekd_dims *input_dims,
                                                 const ekd_dims *filter_dims,
                                                 const ekd_dims *output_dims)
{
    (void)filter_dims;
    (void)output_dims;
    return input_dims == NULL ? 0 : (input_dims->c + 15) / 16 * 16;
}

ekd_status ekd_depthwise_conv2d_s8_mve(const ekd_context *ctx, const ekd_conv_params *params,
                                       const ekd_per_channel_quant *quant,
                                       const ekd_dims *input_dims, const int8_t *input,
                                       const ekd_dims *filter_dims,
                                       const int8_t *packed_filter,
                                       const int32_t *folded_bias,
                                       const ekd_dims *output_dims, int8_t *output)
{
    ekd_dw_constants k;
    int32_t batch, out_y, out_x, row, out_h, out_w, stride_h, stride_w, pad_h, pad_w, batches;
    int fast_3x3, by_taps;
    const int8_t *zero_row;
    ekd_status status;

    if (params == NULL || quant == NULL || input == NULL || packed_filter == NULL ||
        folded_bias == NULL || output == NULL) {
        return EKD_ERROR_ARGUMENT;
    }
    status = ekd_validate_conv(params, quant, input_dims, filter_dims, output_dims);
    if (status != EKD_OK) {
        return status;
    }
    if (params->depth_multiplier != 1 || filter_dims->n != 1 ||
        filter_dims->c != output_dims->c || output_dims->c != input_dims->c) {
        return EKD_ERROR_ARGUMENT;
    }
    if (ctx == NULL || ctx->buf == NULL ||
        ctx->size < ekd_depthwise_conv2d_s8_mve_scratch_size(input_dims, filter_dims,
                                                             output_dims)) {
        return EKD_ERROR_SCRATCH;
    }

    k.folded_bias = folded_bias;
    k.multiplier = quant->multiplier;
    k.shift = quant->shift;
    k.output_offset = params->output_offset;
    k.activation_min = params->activation_min;
    k.activation_max = params->activation_max;
    k.zero_point = -params->input_offset;
    k.in_h = input_dims->h;
    k.in_w = input_dims->w;
    k.channels = input_dims->c;
    k.kernel_h = filter_dims->h;
    k.kernel_w = filter_dims->w;
    k.dilation_h = params->dilation_h;
    k.dilation_w = params->dilation_w;
    k.right_only = ekd_mve_shifts_right_only(quant->shift, k.channels);
    stride_h = params->stride_h;
    stride_w = params->stride_w;
    pad_h = params->pad_h;
    pad_w = params->pad_w;
    out_h = output_dims->h;
    out_w = output_dims->w;
    batches = output_dims->n;
    row = k.in_w * k.channels;
    fast_3x3 = k.kernel_h == 3 && k.kernel_w == 3 && k.channels % 4 == 0;
    by_taps = !fast_3x3 && k.channels % 4 == 0 && k.kernel_h * k.kernel_w <= EKD_DW_MVE_TAPS;
    {
        /* A row of zero points: what a tap in the padding reads on the fast path. */
        int8_t *zeros = (int8_t *)ctx->buf;
        int32_t c;
        for (c = 0; c < k.channels; c += 16) {
            vstrbq_p_s8(zeros + c, vdupq_n_s8((int8_t)k.zero_point),
                        vctp8q((uint32_t)(k.channels - c)));
        }
        zero_row = zeros;
    }

    for (batch = 0; batch < batches; ++batch) {
        const int8_t *image = input + (size_t)batch * k.in_h * row;
        int8_t *out = output + (size_t)batch * out_h * out_w * k.channels;
        for (out_y = 0; out_y < out_h; ++out_y) {
            const int32_t in_y = out_y * stride_h - pad_h;
            for (out_x = 0; out_x < out_w; ++out_x) {
                const int32_t in_x = out_x * stride_w - pad_w;
                if (fast_3x3) {
                    const int8_t *taps[9];
                    int32_t ky, kx;
                    for (ky = 0; ky < 3; ++ky) {
                        const int32_t y = in_y + ky * k.dilation_h;
                        for (kx = 0; kx < 3; ++kx) {
                            const int32_t x = in_x + kx * k.dilation_w;
                            taps[ky * 3 + kx] =
                                y >= 0 && y < k.in_h && x >= 0 && x < k.in_w
                                    ? image + (size_t)y * row + (size_t)x * k.channels
                                    : zero_row;
                        }
                    }
                    if (k.right_only) {
                        ekd_dw_pixel_3x3_right(&k, taps, packed_filter, out);
                    } else {
                        ekd_dw_pixel_3x3_any(&k, taps, packed_filter, out);
                    }
                } else if (by_taps) {
                    const int8_t *taps[EKD_DW_MVE_TAPS];
                    int32_t ky, kx, t = 0;
                    for (ky = 0; ky < k.kernel_h; ++ky) {
                        const int32_t y = in_y + ky * k.dilation_h;
                        for (kx = 0; kx < k.kernel_w; ++kx, ++t) {
                            const int32_t x = in_x + kx * k.dilation_w;
                            taps[t] = y >= 0 && y < k.in_h && x >= 0 && x < k.in_w
                                          ? image + (size_t)y * row + (size_t)x * k.channels
                                          : zero_row;
                        }
                    }
                    ekd_dw_pixel_taps(&k, taps, t, packed_filter, out);
                } else {
                    ekd_dw_pixel(&k, image, in_y, in_x, packed_filter, out);
                }
                out += k.channels;
            }
        }
    }
    return EKD_OK;
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int ekd_depthwise_conv2d_s8_mve_not_built;

#endif /* EKD_HAVE_MVE */
