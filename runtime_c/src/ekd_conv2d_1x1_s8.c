/*
 * CONV_2D with a 1x1 filter and no padding (any stride): a plain matrix product of the
 * packed weights [out_c][in_c] and the input pixels, four output pixels at a time
 * (ekd_nn_conv_s8: each column is one input pixel's channels, copied into the block in
 * the order the matrix kernel reads; no window, no padding). Same bytes as ekd_conv2d_s8.
 */
#include "edgekd/ekd.h"
#include "ekd_conv_fast.h"
#include "ekd_mat_mult_s8.h"

int32_t ekd_conv2d_1x1_s8_scratch_size(const ekd_dims *input_dims, const ekd_dims *filter_dims,
                                       const ekd_dims *output_dims)
{
    (void)filter_dims;
    (void)output_dims;
    if (input_dims == NULL || input_dims->c <= 0 || input_dims->c > EKD_MAT_MULT_MAX_DEPTH) {
        return 0;
    }
    return EKD_MAT_MULT_BLOCK_BYTES(input_dims->c);
}

ekd_status ekd_conv2d_1x1_s8(const ekd_context *ctx, const ekd_conv_params *params,
                             const ekd_per_channel_quant *quant,
                             const ekd_dims *input_dims, const int8_t *input,
                             const ekd_dims *filter_dims, const int8_t *filter,
                             const int32_t *bias,
                             const ekd_dims *output_dims, int8_t *output)
{
    ekd_status status = ekd_validate_conv_fast(params, quant, input_dims, input, filter_dims,
                                               filter, output_dims, output);
    if (status != EKD_OK) {
        return status;
    }
    if (bias == NULL || filter_dims->h != 1 || filter_dims->w != 1 ||
        filter_dims->n != output_dims->c || filter_dims->c != input_dims->c ||
        input_dims->c > EKD_MAT_MULT_MAX_DEPTH || params->pad_h != 0 || params->pad_w != 0 ||
        (output_dims->h - 1) * params->stride_h >= input_dims->h ||
        (output_dims->w - 1) * params->stride_w >= input_dims->w) {
        return EKD_ERROR_ARGUMENT;
    }
    status = ekd_validate_scratch(
        ctx, ekd_conv2d_1x1_s8_scratch_size(input_dims, filter_dims, output_dims));
    if (status != EKD_OK) {
        return status;
    }
    ekd_nn_conv_s8(params, quant, input_dims, input, filter_dims, filter, bias, output_dims,
                   output, ctx->buf);
    return EKD_OK;
}
