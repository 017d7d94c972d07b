/*
 * CONV_2D, int8 activations, int8 per-channel weights, int32 bias.
 * Bit-exact with TFLM's reference_integer_ops::ConvPerChannel (no grouped convolution).
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_validate.h"

int32_t ekd_conv2d_s8_scratch_size(const ekd_dims *input_dims, const ekd_dims *filter_dims,
                                   const ekd_dims *output_dims)
{
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}

ekd_status ekd_conv2d_s8(const ekd_context *ctx, const ekd_conv_params *params,
                         const ekd_per_channel_quant *quant,
                         const ekd_dims *input_dims, const int8_t *input,
                         const ekd_dims *filter_dims, const int8_t *filter,
                         const int32_t *bias,
                         const ekd_dims *output_dims, int8_t *output)
{
    int32_t batch, out_y, out_x, out_c;
    int32_t in_h, in_w, in_c, out_h, out_w, out_depth, kernel_h, kernel_w, input_offset;
    ekd_status status;

    (void)ctx; /* the portable kernel needs no scratch */
    if (params == NULL || quant == NULL || input == NULL || filter == NULL ||
        output == NULL) {
        return EKD_ERROR_ARGUMENT;
    }
    status = ekd_validate_conv(params, quant, input_dims, filter_dims, output_dims);
    if (status != EKD_OK) {
        return status;
    }
    if (filter_dims->n != output_dims->c || filter_dims->c != input_dims->c) {
        return EKD_ERROR_ARGUMENT;
    }

    in_h = input_dims->h;
    in_w = input_dims->w;
    in_c = input_dims->c;
    out_h = output_dims->h;
    out_w = output_dims->w;
    out_depth = output_dims->c;
    kernel_h = filter_dims->h;
    kernel_w = filter_dims->w;
    /* A local copy: stores through the int8_t output may alias *params as far as the
     * compiler knows, which would force a reload per value. */
    input_offset = params->input_offset;

    for (batch = 0; batch < output_dims->n; ++batch) {
        const int8_t *input_image = input + (size_t)batch * in_h * in_w * in_c;
        for (out_y = 0; out_y < out_h; ++out_y) {
            const int32_t in_y_origin = out_y * params->stride_h - params->pad_h;
            for (out_x = 0; out_x < out_w; ++out_x) {
                const int32_t in_x_origin = out_x * params->stride_w - params->pad_w;
                for (out_c = 0; out_c < out_depth; ++out_c) {
                    const int8_t *filter_c = filter + (size_t)out_c * kernel_h * kernel_w * in_c;
                    int32_t acc = 0;
                    int32_t ky, kx, ic;
                    for (ky = 0; ky < kernel_h; ++ky) {
                        const int32_t in_y = in_y_origin + params->dilation_h * ky;
                        if (in_y < 0 || in_y >= in_h) {
                            continue; /* zero padding: the term is omitted */
                        }
                        for (kx = 0; kx < kernel_w; ++kx) {
                            const int32_t in_x = in_x_origin + params->dilation_w * kx;
                            const int8_t *x;
                            const int8_t *w;
                            if (in_x < 0 || in_x >= in_w) {
                                continue;
                            }
                            x = input_image + ((size_t)in_y * in_w + in_x) * in_c;
                            w = filter_c + ((size_t)ky * kernel_w + kx) * in_c;
                            for (ic = 0; ic < in_c; ++ic) {
                                acc = ekd_wrapping_add_s32(
                                    acc, w[ic] * (x[ic] + input_offset));
                            }
                        }
                    }
                    if (bias != NULL) {
                        acc = ekd_wrapping_add_s32(acc, bias[out_c]);
                    }
                    acc = ekd_multiply_by_quantized_multiplier(acc, quant->multiplier[out_c],
                                                               quant->shift[out_c]);
                    acc = ekd_wrapping_add_s32(acc, params->output_offset);
                    acc = ekd_clamp_s32(acc, params->activation_min, params->activation_max);
                    output[(((size_t)batch * out_h + out_y) * out_w + out_x) * out_depth + out_c] =
                        (int8_t)acc;
                }
            }
        }
    }
    return EKD_OK;
}
