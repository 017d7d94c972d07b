/*
 * The argument checks the convolution (and fully connected) kernels share (declared in ekd_validate.h and
 * ekd_conv_fast.h; internal). One copy in a firmware however many kernels it links.
 */
#include "edgekd/ekd.h"
#include "ekd_conv_fast.h"
#include "ekd_requantize.h"
#include "ekd_validate.h"

ekd_status ekd_validate_conv(const ekd_conv_params *params, const ekd_per_channel_quant *quant,
                             const ekd_dims *input_dims, const ekd_dims *filter_dims,
                             const ekd_dims *output_dims)
{
    if (!ekd_dims_valid(input_dims) || !ekd_dims_valid(filter_dims) ||
        !ekd_dims_valid(output_dims) || input_dims->n != output_dims->n) {
        return EKD_ERROR_ARGUMENT;
    }
    if (params->stride_h < 1 || params->stride_w < 1 || params->dilation_h < 1 ||
        params->dilation_w < 1 || params->pad_h < 0 || params->pad_w < 0 ||
        !ekd_offset_valid(params->input_offset) || !ekd_offset_valid(params->output_offset) ||
        !ekd_activation_valid(params->activation_min, params->activation_max)) {
        return EKD_ERROR_ARGUMENT;
    }
    return ekd_validate_per_channel_quant(quant, output_dims->c);
}

ekd_status ekd_validate_conv_fast(const ekd_conv_params *params,
                                  const ekd_per_channel_quant *quant,
                                  const ekd_dims *input_dims, const int8_t *input,
                                  const ekd_dims *filter_dims, const int8_t *filter,
                                  const ekd_dims *output_dims, const int8_t *output)
{
    ekd_status status;
    if (params == NULL || quant == NULL || input == NULL || filter == NULL ||
        output == NULL) {
        return EKD_ERROR_ARGUMENT;
    }
    status = ekd_validate_conv(params, quant, input_dims, filter_dims, output_dims);
    if (status != EKD_OK) {
        return status;
    }
    return ekd_requantize_fast_valid(quant, output_dims->c) ? EKD_OK : EKD_ERROR_ARGUMENT;
}

ekd_status ekd_validate_fc(const ekd_fc_params *params, const ekd_per_channel_quant *quant,
                           const ekd_dims *input_dims, const int8_t *input,
                           const ekd_dims *filter_dims, const int8_t *filter,
                           const ekd_dims *output_dims, const int8_t *output,
                           int32_t *batches)
{
    int32_t n;
    if (params == NULL || quant == NULL || input == NULL || filter == NULL ||
        output == NULL || !ekd_dims_valid(input_dims) || !ekd_dims_valid(filter_dims) ||
        !ekd_dims_valid(output_dims)) {
        return EKD_ERROR_ARGUMENT;
    }
    n = output_dims->n * output_dims->h * output_dims->w;
    if (input_dims->n * input_dims->h * input_dims->w * input_dims->c != n * filter_dims->c ||
        filter_dims->n != output_dims->c || filter_dims->h != 1 || filter_dims->w != 1 ||
        !ekd_offset_valid(params->input_offset) || !ekd_offset_valid(params->filter_offset) ||
        !ekd_offset_valid(params->output_offset) ||
        !ekd_activation_valid(params->activation_min, params->activation_max)) {
        return EKD_ERROR_ARGUMENT;
    }
    *batches = n;
    return ekd_validate_per_channel_quant(quant, output_dims->c);
}
