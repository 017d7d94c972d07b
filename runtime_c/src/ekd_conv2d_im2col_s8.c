/*
 * CONV_2D through im2col: for each block of four output pixels, the input values under
 * each pixel's filter window (kh x kw x in_c, TFLite's weight order) become a column of
 * the block, the input zero point standing in for taps in the padding, and
 * ekd_nn_mat_mult_s8 multiplies the block with the packed weights. The input offset is
 * folded into the bias offline, so the zero point's products cancel exactly what TFLM's
 * reference skips: the same bytes as ekd_conv2d_s8, for any filter size, stride,
 * dilation and padding. A filter row inside the input (dilation_w 1) is one contiguous
 * run of kw * in_c values and is copied in one call; so is a one-channel input's row
 * that the input clips, gathered on the stack first.
 */
#include "edgekd/ekd.h"
#include "ekd_conv_fast.h"
#include "ekd_mat_mult_s8.h"

int32_t ekd_conv2d_im2col_s8_scratch_size(const ekd_dims *input_dims,
                                          const ekd_dims *filter_dims,
                                          const ekd_dims *output_dims)
{
    int32_t depth;
    (void)input_dims;
    (void)output_dims;
    if (filter_dims == NULL || filter_dims->h <= 0 || filter_dims->w <= 0 ||
        filter_dims->c <= 0 ||
        filter_dims->h > EKD_MAT_MULT_MAX_DEPTH / filter_dims->w / filter_dims->c) {
        return 0;
    }
    depth = filter_dims->h * filter_dims->w * filter_dims->c;
    return EKD_MAT_MULT_BLOCK_BYTES(depth);
}

/* Column `column` of the block: the window of output pixel (out_y, out_x). */
static void ekd_im2col_column(void *scratch, int32_t column, const ekd_conv_params *params,
                              const ekd_dims *input_dims, const int8_t *image,
                              const ekd_dims *filter_dims, int32_t out_y, int32_t out_x)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t kernel_h = filter_dims->h, kernel_w = filter_dims->w;
    const int32_t row_values = kernel_w * in_c;
    const int32_t zero_point = -params->input_offset;
    const int32_t y0 = out_y * params->stride_h - params->pad_h;
    const int32_t x0 = out_x * params->stride_w - params->pad_w;
    const int32_t dilation_w = params->dilation_w;
    const int32_t x_last = x0 + (kernel_w - 1) * dilation_w;
    int32_t ky, kx, k = 0;

    for (ky = 0; ky < kernel_h; ++ky, k += row_values) {
        const int32_t y = y0 + ky * params->dilation_h;
        const int8_t *row;
        if (y < 0 || y >= in_h) {
            ekd_nn_block_set(scratch, column, k, row_values, zero_point);
            continue;
        }
        row = image + (size_t)y * in_w * in_c;
        if (dilation_w == 1 && x0 >= 0 && x_last < in_w) {
            ekd_nn_block_copy(scratch, column, k, row + (size_t)x0 * in_c, row_values);
            continue;
        }
        for (kx = 0; kx < kernel_w; ++kx) {
            const int32_t x = x0 + kx * dilation_w;
            if (x < 0 || x >= in_w) {
                ekd_nn_block_set(scratch, column, k + kx * in_c, in_c, zero_point);
            } else {
                ekd_nn_block_copy(scratch, column, k + kx * in_c, row + (size_t)x * in_c, in_c);
            }
        }
    }
}

/* Widest filter row ekd_im2col_column_one_channel gathers on the stack at once. */
#define EKD_IM2COL_SHORT_ROW 16

/* ekd_im2col_column for a one-channel input (a spectrogram, a grey image), where a
 * filter row is a few values: a row the input clips (at the borders) is gathered on the
 * stack, the zero point in the padding, and copied in one call rather than one call per
 * tap. Out of line and chosen once per layer, so that other layers run the code they
 * did. */
static __attribute__((noinline)) void
ekd_im2col_column_one_channel(void *scratch, int32_t column, const ekd_conv_params *params,
                              const ekd_dims *input_dims, const int8_t *image,
                              const ekd_dims *filter_dims, int32_t out_y, int32_t out_x)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w;
    const int32_t kernel_h = filter_dims->h, kernel_w = filter_dims->w;
    const int32_t zero_point = -params->input_offset;
    const int32_t y0 = out_y * params->stride_h - params->pad_h;
    const int32_t x0 = out_x * params->stride_w - params->pad_w;
    const int32_t dilation_w = params->dilation_w;
    const int32_t x_last = x0 + (kernel_w - 1) * dilation_w;
    const int contiguous = dilation_w == 1 && x0 >= 0 && x_last < in_w;
    int8_t values[EKD_IM2COL_SHORT_ROW];
    int32_t ky, k = 0;

    for (ky = 0; ky < kernel_h; ++ky, k += kernel_w) {
        const int32_t y = y0 + ky * params->dilation_h;
        const int8_t *row;
        int32_t kx;
        if (y < 0 || y >= in_h) {
            ekd_nn_block_set(scratch, column, k, kernel_w, zero_point);
            continue;
        }
        row = image + (size_t)y * in_w;
        if (contiguous) {
            ekd_nn_block_copy(scratch, column, k, row + x0, kernel_w);
            continue;
        }
        for (kx = 0; kx < kernel_w;) {
            const int32_t count = kernel_w - kx < EKD_IM2COL_SHORT_ROW ? kernel_w - kx
                                                                       : EKD_IM2COL_SHORT_ROW;
            int32_t i;
            for (i = 0; i < count; ++i) {
                const int32_t x = x0 + (kx + i) * dilation_w;
                values[i] = x >= 0 && x < in_w ? row[x] : (int8_t)zero_point;
            }
            ekd_nn_block_copy(scratch, column, k + kx, values, count);
            kx += count;
        }
    }
}

void ekd_nn_conv_s8(const ekd_conv_params *params, const ekd_per_channel_quant *quant,
                    const ekd_dims *input_dims, const int8_t *input,
                    const ekd_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                    const ekd_dims *output_dims, int8_t *output, void *scratch)
{
    const int32_t out_c = output_dims->c;
    const int32_t out_w = output_dims->w;
    const int32_t pixels = output_dims->h * out_w;
    ekd_nn_output_params out_params;
    ekd_nn_block block;
    const int one_channel = input_dims->c == 1;
    int32_t batch, pixel;

    block.scratch = scratch;
    block.depth = filter_dims->h * filter_dims->w * filter_dims->c;
    out_params.bias = bias;
    out_params.quant = quant;
    out_params.output_offset = params->output_offset;
    out_params.activation_min = params->activation_min;
    out_params.activation_max = params->activation_max;

    for (batch = 0; batch < output_dims->n; ++batch) {
        const int8_t *image =
            input + (size_t)batch * input_dims->h * input_dims->w * input_dims->c;
        int8_t *out_image = output + (size_t)batch * pixels * out_c;
        int32_t y = 0, x = 0; /* of the next pixel to fill */
        for (pixel = 0; pixel < pixels; pixel += EKD_MAT_MULT_COLUMNS) {
            int8_t *out[EKD_MAT_MULT_COLUMNS];
            int32_t j;
            for (j = 0; j < EKD_MAT_MULT_COLUMNS; ++j) {
                if (pixel + j < pixels) {
                    if (one_channel) {
                        ekd_im2col_column_one_channel(scratch, j, params, input_dims, image,
                                                      filter_dims, y, x);
                    } else {
                        ekd_im2col_column(scratch, j, params, input_dims, image, filter_dims,
                                          y, x);
                    }
                    out[j] = out_image + (size_t)(pixel + j) * out_c;
                    if (++x == out_w) {
                        x = 0;
                        ++y;
                    }
                } else {
                    /* Past the last pixel, repeat the previous column and its output. */
                    ekd_nn_block_repeat(scratch, block.depth, j, j - 1);
                    out[j] = out[j - 1];
                }
            }
            ekd_nn_mat_mult_s8(filter, out_c, &block, &out_params, out);
        }
    }
}

ekd_status ekd_conv2d_im2col_s8(const ekd_context *ctx, const ekd_conv_params *params,
                                const ekd_per_channel_quant *quant,
                                const ekd_dims *input_dims, const int8_t *input,
                                const ekd_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias,
                                const ekd_dims *output_dims, int8_t *output)
{
    int32_t need;
    ekd_status status = ekd_validate_conv_fast(params, quant, input_dims, input, filter_dims,
                                               filter, output_dims, output);
    if (status != EKD_OK) {
        return status;
    }
    need = ekd_conv2d_im2col_s8_scratch_size(input_dims, filter_dims, output_dims);
    if (bias == NULL || filter_dims->n != output_dims->c ||
        filter_dims->c != input_dims->c || need == 0) {
        return EKD_ERROR_ARGUMENT;
    }
    status = ekd_validate_scratch(ctx, need);
    if (status != EKD_OK) {
        return status;
    }
    ekd_nn_conv_s8(params, quant, input_dims, input, filter_dims, filter, bias, output_dims,
                   output, ctx->buf);
    return EKD_OK;
}
