/*
 * TFLM's int8 ADD and SUB with broadcasting (internal): shared by ekd_sub_s8 and
 * ekd_add_broadcast_s8. Each input is offset, scaled up by 2^left_shift, rescaled to the
 * common scale; the sum or difference is rescaled to the output (TFLM's AddElementwise,
 * SubElementwise, BroadcastQuantSubSlow).
 */
#ifndef EDGEKD_EKD_ADD_SUB_H
#define EDGEKD_EKD_ADD_SUB_H

#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_shape_loops.h"
#include "ekd_validate.h"

/* TFLM's int8 ADD (`sign` 1) or SUB (`sign` -1) of the rescaled inputs. */
static inline ekd_status ekd_add_or_sub_s8(const ekd_add_params *params,
                                    const ekd_broadcast_shape *shape, const int8_t *input1,
                                    const int8_t *input2, int8_t *output, int32_t sign)
{
    size_t out = 0;
    int32_t headroom;

    if (params == NULL || !ekd_broadcast_valid(shape, input1, input2, output) ||
        !ekd_add_params_valid(params)) {
        return EKD_ERROR_ARGUMENT;
    }
    headroom = (int32_t)1 << params->left_shift;
    EKD_FOR_EACH_4D(shape->dims, shape->stride1, at1, shape->stride2, at2, {
        const int32_t scaled1 = ekd_multiply_by_quantized_multiplier_smaller_than_one(
            (input1[at1] + params->input1_offset) * headroom, params->input1_multiplier,
            params->input1_shift);
        const int32_t scaled2 = ekd_multiply_by_quantized_multiplier_smaller_than_one(
            (input2[at2] + params->input2_offset) * headroom, params->input2_multiplier,
            params->input2_shift);
        const int32_t raw = ekd_multiply_by_quantized_multiplier_smaller_than_one(
            scaled1 + sign * scaled2, params->output_multiplier, params->output_shift);
        output[out++] = (int8_t)ekd_clamp_s32(ekd_wrapping_add_s32(raw, params->output_offset),
                                              params->activation_min, params->activation_max);
    });
    return EKD_OK;
}

#endif /* EDGEKD_EKD_ADD_SUB_H */
