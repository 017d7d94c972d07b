/*
 * Argument checks shared by the kernels (internal). They reject exactly the values that
 * could make a kernel read out of bounds or reach undefined behaviour; everything the
 * code generator emits passes them. Each check is O(channels) per call, not per value.
 */
#ifndef EDGEKD_EKD_VALIDATE_H
#define EDGEKD_EKD_VALIDATE_H

#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"

/* Zero-point offsets are int8 zero points negated (or not): |offset| <= 255 keeps every
 * (x + offset) * w product far inside int32. */
#define EKD_OFFSET_LIMIT 255

static inline int ekd_dims_valid(const ekd_dims *d)
{
    return d != NULL && d->n > 0 && d->h > 0 && d->w > 0 && d->c > 0;
}

static inline int ekd_offset_valid(int32_t offset)
{
    return offset >= -EKD_OFFSET_LIMIT && offset <= EKD_OFFSET_LIMIT;
}

static inline int ekd_activation_valid(int32_t activation_min, int32_t activation_max)
{
    return activation_min >= -128 && activation_min <= activation_max && activation_max <= 127;
}

static inline int ekd_shift_valid(int32_t shift)
{
    return shift >= EKD_SHIFT_MIN && shift <= EKD_SHIFT_MAX;
}

static inline ekd_status ekd_validate_per_channel_quant(const ekd_per_channel_quant *quant,
                                                        int32_t channels)
{
    int32_t c;
    if (quant->multiplier == NULL || quant->shift == NULL) {
        return EKD_ERROR_ARGUMENT;
    }
    for (c = 0; c < channels; ++c) {
        if (!ekd_shift_valid(quant->shift[c])) {
            return EKD_ERROR_ARGUMENT;
        }
    }
    return EKD_OK;
}

/* Checks common to CONV_2D and DEPTHWISE_CONV_2D (the channel relations differ). */
static inline ekd_status ekd_validate_conv(const ekd_conv_params *params,
                                           const ekd_per_channel_quant *quant,
                                           const ekd_dims *input_dims,
                                           const ekd_dims *filter_dims,
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

#endif /* EDGEKD_EKD_VALIDATE_H */
