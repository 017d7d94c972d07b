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

/* TFLM's int8 ADD (and SUB) parameters: multipliers below one (shifts <= 0), and a
 * headroom that keeps |x + offset| * 2^left_shift (at most 382 * 2^22) in int32; TFLM
 * uses left_shift 20 for int8. */
static inline int ekd_add_params_valid(const ekd_add_params *p)
{
    return ekd_offset_valid(p->input1_offset) && ekd_offset_valid(p->input2_offset) &&
           ekd_offset_valid(p->output_offset) && p->left_shift >= 0 && p->left_shift <= 22 &&
           p->input1_shift >= EKD_SHIFT_MIN && p->input1_shift <= 0 &&
           p->input2_shift >= EKD_SHIFT_MIN && p->input2_shift <= 0 &&
           p->output_shift >= EKD_SHIFT_MIN && p->output_shift <= 0 &&
           ekd_activation_valid(p->activation_min, p->activation_max);
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

/* Checks common to CONV_2D and DEPTHWISE_CONV_2D (the channel relations differ). Out of
 * line (ekd_validate.c): a dozen kernels share it, and an inlined copy in each would cost
 * a firmware that links several of them a few hundred bytes per kernel. */
ekd_status ekd_validate_conv(const ekd_conv_params *params, const ekd_per_channel_quant *quant,
                             const ekd_dims *input_dims, const ekd_dims *filter_dims,
                             const ekd_dims *output_dims);

#endif /* EDGEKD_EKD_VALIDATE_H */
