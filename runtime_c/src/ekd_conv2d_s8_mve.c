/*
 * CONV_2D, any kernel, stride, dilation and padding, Helium (MVE) variant.
 * Bit-exact with TFLM's reference_integer_ops::ConvPerChannel (see ekd_mve.h for the
 * folded bias and the filter rows padded to whole vectors).
 *
 * Four output pixels at a time: their windows are copied into an interleaved block of
 * scratch (padded taps get the input zero point, which the folded bias cancels), then
 * every pair of output channels is one pass over the block, eight VMLADAVA per 16
 * weights of each.
 *
 * In-place contract (edgekd/codegen/inplace.py mirrors it): pixels in raster order, four
 * at a time, all four read before any of their outputs is written.
 */
#include "edgekd/ekd.h"

#if EKD_HAVE_MVE

#include "ekd_mve_conv.h"
#include "ekd_validate.h"

int32_t ekd_conv2d_s8_mve_scratch_size(const ekd_dims *input_dims,
                                       const ekd_dims *filter_dims,
                                       const ekd_dims *output_dims)
{
    int32_t depth16;
    (void)input_dims;
    (void)output_dims;
    if (filter_dims == NULL) {
        return 0;
    }
    depth16 = ekd_mve_depth16(filter_dims->h * filter_dims->w * filter_dims->c);
    /* Kernel rows that are not whole vectors are gathered in one more window's worth. */
    return (EKD_MVE_BLOCK_PIXELS + ((filter_dims->w * filter_dims->c) % 16 != 0)) * depth16;
}

/* Output pixel geometry, loop-invariant. */
typedef struct {
    int32_t in_h, in_w, in_c, kernel_h, kernel_w;
    int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
} ekd_conv_geometry;

/* The window of the output pixel whose top-left input position is (in_y, in_x), as
 * kernel_h * kernel_w * in_c contiguous bytes; taps in the padding get the zero point. */
static void ekd_conv_window_row(int8_t *row, const int8_t *image, const ekd_conv_geometry *g,
                               int32_t in_y, int32_t in_x, int8x16_t zero_point)
{
    const int32_t in_c = g->in_c;
    const int32_t row_len = g->kernel_w * in_c;
    int32_t ky, kx;
    for (ky = 0; ky < g->kernel_h; ++ky, row += row_len) {
        const int32_t y = in_y + ky * g->dilation_h;
        if (y < 0 || y >= g->in_h) {
            ekd_mve_fill_s8(row, zero_point, row_len);
        } else if (g->dilation_w == 1) {
            /* One contiguous run of valid columns [first, last), padding either side. */
            const int32_t first = in_x < 0 ? ekd_min_s32(-in_x, g->kernel_w) : 0;
            const int32_t last = ekd_max_s32(first, ekd_min_s32(g->kernel_w, g->in_w - in_x));
            ekd_mve_fill_s8(row, zero_point, first * in_c);
            if (last > first) {
                ekd_mve_copy_s8(row + first * in_c,
                                image + ((size_t)y * g->in_w + (size_t)(in_x + first)) * in_c,
                                (last - first) * in_c);
            }
            ekd_mve_fill_s8(row + last * in_c, zero_point, (g->kernel_w - last) * in_c);
        } else {
            for (kx = 0; kx < g->kernel_w; ++kx) {
                const int32_t x = in_x + kx * g->dilation_w;
                if (x < 0 || x >= g->in_w) {
                    ekd_mve_fill_s8(row + kx * in_c, zero_point, in_c);
                } else {
                    ekd_mve_copy_s8(row + kx * in_c,
                                    image + ((size_t)y * g->in_w + (size_t)x) * in_c, in_c);
                }
            }
        }
    }
}

/* The window of the output pixel whose top-left input position is (in_y, in_x) as
 * pixel `pixel` of the block; taps in the padding get the zero point. `row`: scratch
 * for one contiguous window, used when kernel rows are not whole vectors. */
static void ekd_conv_window(int8_t *block, int32_t pixel, const int8_t *image,
                            const ekd_conv_geometry *g, int32_t in_y, int32_t in_x,
                            int8x16_t zero_point, int8_t *row, int32_t chunks)
{
    const int32_t in_c = g->in_c;
    const int32_t row_len = g->kernel_w * in_c;
    int32_t ky, kx;
    if (g->dilation_w == 1 && row_len % 16 == 0 && in_x >= 0 && in_x + g->kernel_w <= g->in_w) {
        /* Kernel rows of whole vectors, all columns inside: vector copies, no masks. */
        int8_t *dst = block + pixel * 16;
        for (ky = 0; ky < g->kernel_h; ++ky) {
            const int32_t y = in_y + ky * g->dilation_h;
            int32_t n;
            if (y < 0 || y >= g->in_h) {
                for (n = row_len; n > 0; n -= 16) {
                    vstrbq_s8(dst, zero_point);
                    dst += 16 * EKD_MVE_BLOCK_PIXELS;
                }
            } else {
                const int8_t *src = image + ((size_t)y * g->in_w + (size_t)in_x) * in_c;
                for (n = row_len; n > 0; n -= 16) {
                    vstrbq_s8(dst, vldrbq_s8(src));
                    src += 16;
                    dst += 16 * EKD_MVE_BLOCK_PIXELS;
                }
            }
        }
        return;
    }
    if (row_len % 16 != 0) {
        /* Gather the window contiguously, then deal its vectors into the block. */
        int8_t *dst = block + pixel * 16;
        int32_t c;
        if (g->dilation_w == 1 && in_x >= 0 && in_x + g->kernel_w <= g->in_w &&
            row_len <= 16) {
            /* All columns inside and a kernel row within one vector: one predicated
             * copy (or fill) per kernel row. */
            const mve_pred16_t part = vctp8q((uint32_t)row_len);
            int8_t *out = row;
            for (ky = 0; ky < g->kernel_h; ++ky, out += row_len) {
                const int32_t y = in_y + ky * g->dilation_h;
                if (y < 0 || y >= g->in_h) {
                    vstrbq_p_s8(out, zero_point, part);
                } else {
                    vstrbq_p_s8(out,
                                vldrbq_z_s8(image + ((size_t)y * g->in_w + (size_t)in_x) * in_c,
                                            part),
                                part);
                }
            }
        } else {
            ekd_conv_window_row(row, image, g, in_y, in_x, zero_point);
        }
        for (c = 0; c < chunks; ++c) {
            vstrbq_s8(dst, vldrbq_s8(row + 16 * c));
            dst += 16 * EKD_MVE_BLOCK_PIXELS;
        }
        return;
    }
    /* Whole-vector rows at a border or dilated: piece by piece. */
    for (ky = 0; ky < g->kernel_h; ++ky) {
        const int32_t y = in_y + ky * g->dilation_h;
        const int32_t k = ky * row_len;
        if (y < 0 || y >= g->in_h) {
            ekd_mve_block_fill(block, pixel, k, zero_point, row_len);
        } else if (g->dilation_w == 1) {
            const int32_t first = in_x < 0 ? ekd_min_s32(-in_x, g->kernel_w) : 0;
            const int32_t last = ekd_max_s32(first, ekd_min_s32(g->kernel_w, g->in_w - in_x));
            ekd_mve_block_fill(block, pixel, k, zero_point, first * in_c);
            if (last > first) {
                ekd_mve_block_put(block, pixel, k + first * in_c,
                                  image + ((size_t)y * g->in_w + (size_t)(in_x + first)) * in_c,
                                  (last - first) * in_c);
            }
            ekd_mve_block_fill(block, pixel, k + last * in_c, zero_point,
                               (g->kernel_w - last) * in_c);
        } else {
            for (kx = 0; kx < g->kernel_w; ++kx) {
                const int32_t x = in_x + kx * g->dilation_w;
                if (x < 0 || x >= g->in_w) {
                    ekd_mve_block_fill(block, pixel, k + kx * in_c, zero_point, in_c);
                } else {
                    ekd_mve_block_put(block, pixel, k + kx * in_c,
                                      image + ((size_t)y * g->in_w + (size_t)x) * in_c, in_c);
                }
            }
        }
    }
}

ekd_status ekd_conv2d_s8_mve(const ekd_context *ctx, const ekd_conv_params *params,
                             const ekd_per_channel_quant *quant,
                             const ekd_dims *input_dims, const int8_t *input,
                             const ekd_dims *filter_dims, const int8_t *filter,
                             const int32_t *folded_bias,
                             const ekd_dims *output_dims, int8_t *output)
{
    ekd_mve_output_stage stage;
    ekd_conv_geometry g;
    int32_t pixels, per_image, out_w, out_c, chunks, p;
    int32_t batch = 0, out_y = 0, out_x = 0; /* of pixel p */
    int8x16_t zero_point;
    int8_t *block;
    ekd_status status;

    if (ctx == NULL || params == NULL || quant == NULL || input == NULL || filter == NULL ||
        folded_bias == NULL || output == NULL) {
        return EKD_ERROR_ARGUMENT;
    }
    status = ekd_validate_conv(params, quant, input_dims, filter_dims, output_dims);
    if (status != EKD_OK) {
        return status;
    }
    if (filter_dims->n != output_dims->c || filter_dims->c != input_dims->c) {
        return EKD_ERROR_ARGUMENT;
    }
    if (ctx->buf == NULL ||
        ctx->size < ekd_conv2d_s8_mve_scratch_size(input_dims, filter_dims, output_dims)) {
        return EKD_ERROR_SCRATCH;
    }

    out_c = output_dims->c;
    stage = ekd_mve_output_stage_of(params, quant, folded_bias, out_c);
    g.in_h = input_dims->h;
    g.in_w = input_dims->w;
    g.in_c = input_dims->c;
    g.kernel_h = filter_dims->h;
    g.kernel_w = filter_dims->w;
    g.stride_h = params->stride_h;
    g.stride_w = params->stride_w;
    g.dilation_h = params->dilation_h;
    g.dilation_w = params->dilation_w;
    g.pad_h = params->pad_h;
    g.pad_w = params->pad_w;
    zero_point = vdupq_n_s8((int8_t)-params->input_offset);
    block = (int8_t *)ctx->buf;
    chunks = ekd_mve_depth16(g.kernel_h * g.kernel_w * g.in_c) / 16;
    out_w = output_dims->w;
    per_image = output_dims->h * out_w;
    pixels = output_dims->n * per_image;

    for (p = 0; p < pixels; p += EKD_MVE_BLOCK_PIXELS) {
        const int32_t count = pixels - p < EKD_MVE_BLOCK_PIXELS ? pixels - p
                                                               : EKD_MVE_BLOCK_PIXELS;
        int32_t i;
        for (i = 0; i < EKD_MVE_BLOCK_PIXELS; ++i) {
            /* Past the last pixel, repeat it: computed, never stored. */
            const int8_t *image = input + (size_t)batch * g.in_h * g.in_w * g.in_c;
            ekd_conv_window(block, i, image, &g, out_y * g.stride_h - g.pad_h,
                            out_x * g.stride_w - g.pad_w, zero_point,
                            block + EKD_MVE_BLOCK_PIXELS * 16 * chunks, chunks);
            if (i + 1 < count && ++out_x == out_w) {
                out_x = 0;
                if (++out_y == output_dims->h) {
                    out_y = 0;
                    ++batch;
                }
            }
        }
        ekd_mve_block_conv(&stage, block, chunks, filter, output + (size_t)p * out_c, out_c,
                           count);
        /* The pixel after this block's last. */
        if (++out_x == out_w) {
            out_x = 0;
            if (++out_y == output_dims->h) {
                out_y = 0;
                ++batch;
            }
        }
    }
    return EKD_OK;
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int ekd_conv2d_s8_mve_not_built;

#endif /* EKD_HAVE_MVE */
