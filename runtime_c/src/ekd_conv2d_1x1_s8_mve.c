/*
 * CONV_2D with a 1x1 kernel and no padding (any stride), Helium (MVE) variant: each output
 * pixel is the product of one input pixel (in_c values) with the filter matrix
 * [out_c][in_c]. Bit-exact with TFLM's reference_integer_ops::ConvPerChannel (see
 * ekd_mve.h for the folded bias and the filter rows padded to whole vectors).
 *
 * Up to 64 input channels, a pixel's input stays in four vector registers while every
 * output channel is computed, four channels per step; beyond, four pixels are copied to
 * an interleaved block of scratch as ekd_conv2d_s8_mve does.
 *
 * In-place contract (edgekd/codegen/inplace.py mirrors it): pixels in raster order;
 * in_c <= 64 one at a time, > 64 four at a time; a pixel's input is read (into registers
 * or scratch) before any of its output is written.
 */
#include "edgekd/ekd.h"

#if EKD_HAVE_MVE

#include "ekd_mve_conv.h"
#include "ekd_validate.h"

/* Pixels of up to 64 channels are held in registers. */
#define EKD_CONV1X1_REGISTER_DEPTH 64

/* Whether a pixel of in_c channels stays in registers (else: blocks in scratch). */
static int ekd_conv1x1_in_registers(int32_t in_c)
{
    return in_c <= EKD_CONV1X1_REGISTER_DEPTH;
}

int32_t ekd_conv2d_1x1_s8_mve_scratch_size(const ekd_dims *input_dims,
                                           const ekd_dims *filter_dims,
                                           const ekd_dims *output_dims)
{
    (void)filter_dims;
    (void)output_dims;
    if (input_dims == NULL || ekd_conv1x1_in_registers(input_dims->c)) {
        return 0;
    }
    return EKD_MVE_BLOCK_PIXELS * ekd_mve_depth16(input_dims->c);
}

/* The dot product of a pixel held in x0..x3 with the filter row at *w (`chunks`
 * vectors); advances *w past the row. */
static inline __attribute__((always_inline)) int32_t ekd_conv1x1_dot(
    int8x16_t x0, int8x16_t x1, int8x16_t x2, int8x16_t x3, const int8_t **w, const int chunks)
{
    const int8_t *p = *w;
    int32_t a = vmladavq_s8(x0, vldrbq_s8(p));
    p += 16;
    if (chunks > 1) {
        a = vmladavaq_s8(a, x1, vldrbq_s8(p));
        p += 16;
    }
    if (chunks > 2) {
        a = vmladavaq_s8(a, x2, vldrbq_s8(p));
        p += 16;
    }
    if (chunks > 3) {
        a = vmladavaq_s8(a, x3, vldrbq_s8(p));
        p += 16;
    }
    *w = p;
    return a;
}

/* One pixel, every output channel; `chunks` (1..4) and `right_only` are constants after
 * inlining. The zero-filled tail of the last input vector meets the zero padding of the
 * filter rows. */
static inline __attribute__((always_inline)) void ekd_conv1x1_pixel(
    const ekd_mve_output_stage *s, const int8_t *x, int8_t *out, int32_t out_c,
    const int8_t *filter, int32_t in_c, const int chunks, const int right_only)
{
    const mve_pred16_t tail = vctp8q((uint32_t)(in_c - 16 * (chunks - 1)));
    const int8x16_t x0 = chunks == 1 ? vldrbq_z_s8(x, tail) : vldrbq_s8(x);
    const int8x16_t x1 = chunks < 2 ? x0 : chunks == 2 ? vldrbq_z_s8(x + 16, tail)
                                                       : vldrbq_s8(x + 16);
    const int8x16_t x2 = chunks < 3 ? x0 : chunks == 3 ? vldrbq_z_s8(x + 32, tail)
                                                       : vldrbq_s8(x + 32);
    const int8x16_t x3 = chunks < 4 ? x0 : vldrbq_z_s8(x + 48, tail);
    const int8_t *w = filter;
    int32_t oc = 0;
    for (; oc + 4 <= out_c; oc += 4) {
        const int32_t a0 = ekd_conv1x1_dot(x0, x1, x2, x3, &w, chunks);
        const int32_t a1 = ekd_conv1x1_dot(x0, x1, x2, x3, &w, chunks);
        const int32_t a2 = ekd_conv1x1_dot(x0, x1, x2, x3, &w, chunks);
        const int32_t a3 = ekd_conv1x1_dot(x0, x1, x2, x3, &w, chunks);
        ekd_mve_store4(s, a0, a1, a2, a3, oc, out, vctp32q(4u), right_only);
    }
    if (oc < out_c) {
        const int32_t left = out_c - oc;
        const int32_t a0 = ekd_conv1x1_dot(x0, x1, x2, x3, &w, chunks);
        const int32_t a1 = left > 1 ? ekd_conv1x1_dot(x0, x1, x2, x3, &w, chunks) : 0;
        const int32_t a2 = left > 2 ? ekd_conv1x1_dot(x0, x1, x2, x3, &w, chunks) : 0;
        ekd_mve_store4(s, a0, a1, a2, 0, oc, out, vctp32q((uint32_t)left), right_only);
    }
}

/* The pixel routine for each case, each compiled on its own (not inlined into the pixel
 * loop, not pre-scheduled) so that GCC keeps the input vectors and accumulators in
 * registers. */
#define EKD_CONV1X1_PIXEL_FN(chunks, right_only)                                              \
    static __attribute__((noinline)) EKD_MVE_NO_SCHEDULE void                                \
        ekd_conv1x1_pixel_##chunks##_##right_only(                                            \
        const ekd_mve_output_stage *s, const int8_t *x, int8_t *out, int32_t out_c,           \
        const int8_t *filter, int32_t in_c)                                                   \
    {                                                                                         \
        ekd_conv1x1_pixel(s, x, out, out_c, filter, in_c, chunks, right_only);                \
    }
EKD_CONV1X1_PIXEL_FN(1, 0)
EKD_CONV1X1_PIXEL_FN(2, 0)
EKD_CONV1X1_PIXEL_FN(3, 0)
EKD_CONV1X1_PIXEL_FN(4, 0)
EKD_CONV1X1_PIXEL_FN(1, 1)
EKD_CONV1X1_PIXEL_FN(2, 1)
EKD_CONV1X1_PIXEL_FN(3, 1)
EKD_CONV1X1_PIXEL_FN(4, 1)

typedef void (*ekd_conv1x1_pixel_fn)(const ekd_mve_output_stage *s, const int8_t *x,
                                     int8_t *out, int32_t out_c, const int8_t *filter,
                                     int32_t in_c);

/* Input pixel of output pixel (batch, y, x). */
static inline const int8_t *ekd_conv1x1_input(const int8_t *input, const ekd_dims *in,
                                              const ekd_conv_params *params, int32_t batch,
                                              int32_t y, int32_t x)
{
    return input + (((size_t)batch * in->h + (size_t)(y * params->stride_h)) * in->w +
                    (size_t)(x * params->stride_w)) * in->c;
}

ekd_status ekd_conv2d_1x1_s8_mve(const ekd_context *ctx, const ekd_conv_params *params,
                                 const ekd_per_channel_quant *quant,
                                 const ekd_dims *input_dims, const int8_t *input,
                                 const ekd_dims *filter_dims, const int8_t *filter,
                                 const int32_t *folded_bias,
                                 const ekd_dims *output_dims, int8_t *output)
{
    ekd_mve_output_stage stage;
    int32_t pixels, in_c, out_c, out_w, out_h, p;
    int32_t batch = 0, out_y = 0, out_x = 0; /* of pixel p */
    ekd_status status;

    if (params == NULL || quant == NULL || input == NULL || filter == NULL ||
        folded_bias == NULL || output == NULL) {
        return EKD_ERROR_ARGUMENT;
    }
    status = ekd_validate_conv(params, quant, input_dims, filter_dims, output_dims);
    if (status != EKD_OK) {
        return status;
    }
    if (filter_dims->n != output_dims->c || filter_dims->c != input_dims->c ||
        filter_dims->h != 1 || filter_dims->w != 1 || params->pad_h != 0 || params->pad_w != 0 ||
        (output_dims->h - 1) * params->stride_h >= input_dims->h ||
        (output_dims->w - 1) * params->stride_w >= input_dims->w) {
        return EKD_ERROR_ARGUMENT;
    }
    in_c = input_dims->c;
    if (!ekd_conv1x1_in_registers(in_c) &&
        (ctx == NULL || ctx->buf == NULL ||
         ctx->size < ekd_conv2d_1x1_s8_mve_scratch_size(input_dims, filter_dims, output_dims))) {
        return EKD_ERROR_SCRATCH;
    }

    out_c = output_dims->c;
    stage = ekd_mve_output_stage_of(params, quant, folded_bias, out_c);
    out_w = output_dims->w;
    out_h = output_dims->h;
    pixels = output_dims->n * out_h * out_w;

    if (ekd_conv1x1_in_registers(in_c)) {
        static const ekd_conv1x1_pixel_fn by_case[2][4] = {
            {ekd_conv1x1_pixel_1_0, ekd_conv1x1_pixel_2_0, ekd_conv1x1_pixel_3_0,
             ekd_conv1x1_pixel_4_0},
            {ekd_conv1x1_pixel_1_1, ekd_conv1x1_pixel_2_1, ekd_conv1x1_pixel_3_1,
             ekd_conv1x1_pixel_4_1}};
        const ekd_conv1x1_pixel_fn pixel = by_case[stage.right_only][(in_c + 15) / 16 - 1];
        for (p = 0; p < pixels; ++p) {
            pixel(&stage, ekd_conv1x1_input(input, input_dims, params, batch, out_y, out_x),
                  output + (size_t)p * out_c, out_c, filter, in_c);
            if (++out_x == out_w) {
                out_x = 0;
                if (++out_y == out_h) {
                    out_y = 0;
                    ++batch;
                }
            }
        }
        return EKD_OK;
    }

    for (p = 0; p < pixels; p += EKD_MVE_BLOCK_PIXELS) {
        int8_t *block = (int8_t *)ctx->buf;
        const int32_t count = pixels - p < EKD_MVE_BLOCK_PIXELS ? pixels - p
                                                               : EKD_MVE_BLOCK_PIXELS;
        int32_t i;
        for (i = 0; i < EKD_MVE_BLOCK_PIXELS; ++i) {
            /* Past the last pixel, repeat it: computed, never stored. */
            ekd_mve_block_put(block, i, 0,
                              ekd_conv1x1_input(input, input_dims, params, batch, out_y, out_x),
                              in_c);
            if (i + 1 < count && ++out_x == out_w) {
                out_x = 0;
                if (++out_y == out_h) {
                    out_y = 0;
                    ++batch;
                }
            }
        }
        ekd_mve_block_conv(&stage, block, ekd_mve_depth16(in_c) / 16, filter,
                           output + (size_t)p * out_c, out_c, count);
        if (++out_x == out_w) {
            out_x = 0;
            if (++out_y == out_h) {
                out_y = 0;
                ++batch;
            }
        }
    }
    return EKD_OK;
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int ekd_conv2d_1x1_s8_mve_not_built;

#endif /* EKD_HAVE_MVE */
