/*
 * DEPTHWISE_CONV_2D with depth_multiplier 1, any filter, stride, dilation and padding:
 * the channels in groups of four, each group through every output pixel by
 * ekd_nn_depthwise_group_s8, which clips each pixel's window to the input once (the taps
 * TFLM's reference skips one by one). Same bytes as ekd_depthwise_conv2d_s8; no scratch.
 */
#include "edgekd/ekd.h"
#include "ekd_conv_fast.h"
#include "ekd_depthwise_group_s8.h"
#include "ekd_mat_mult_s8.h"

ekd_status ekd_depthwise_conv2d_fast_s8(const ekd_context *ctx, const ekd_conv_params *params,
                                        const ekd_per_channel_quant *quant,
                                        const ekd_dims *input_dims, const int8_t *input,
                                        const ekd_dims *filter_dims, const int8_t *filter,
                                        const int32_t *bias,
                                        const ekd_dims *output_dims, int8_t *output)
{
    int32_t batch, c, channels;
    ekd_nn_dw_group group;
    ekd_status status = ekd_validate_conv_fast(params, quant, input_dims, input, filter_dims,
                                               filter, output_dims, output);
    (void)ctx; /* no scratch */
    if (status != EKD_OK) {
        return status;
    }
    channels = output_dims->c;
    if (params->depth_multiplier != 1 || filter_dims->n != 1 || filter_dims->c != channels ||
        input_dims->c != channels ||
        filter_dims->h > EKD_MAT_MULT_MAX_DEPTH / filter_dims->w) {
        return EKD_ERROR_ARGUMENT;
    }

    group.channels = channels;
    group.params = params;
    group.in_h = input_dims->h;
    group.in_w = input_dims->w;
    group.out_h = output_dims->h;
    group.out_w = output_dims->w;
    group.kernel_h = filter_dims->h;
    group.kernel_w = filter_dims->w;
    for (batch = 0; batch < output_dims->n; ++batch) {
        const int8_t *image = input + (size_t)batch * group.in_h * group.in_w * channels;
        int8_t *out_image = output + (size_t)batch * group.out_h * group.out_w * channels;
        for (c = 0; c < channels; c += 4) {
            group.count = channels - c < 4 ? channels - c : 4;
            group.input = image + c;
            group.filter = filter + c;
            group.bias = bias != NULL ? bias + c : NULL;
            group.multiplier = quant->multiplier + c;
            group.shift = quant->shift + c;
            group.output = out_image + c;
            ekd_nn_depthwise_group_s8(&group);
        }
    }
    return EKD_OK;
}
