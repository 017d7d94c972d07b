/*
 * ADD, int8, elementwise: the same bytes as ekd_add_s8 (TFLM's AddElementwise) with the
 * three MultiplyByQuantizedMultiplier steps done by the fast requantization (SMMLAR on Arm
 * DSP cores, a 64-bit product elsewhere): ekd_add_run (ekd_add_run.c), the loop the fused
 * residual ADDs of the convolutions share. TFLM's preparation gives the input with the
 * larger scale the multiplier 2^30 with shift 0 (a real 1/2); where its other conditions
 * hold too (left_shift 20, activation_max 127, ekd_add_fast.h) the run takes the half
 * form, two rounded high multiplies per value.
 */
#include "edgekd/ekd.h"
#include "ekd_add_fast.h"

ekd_status ekd_add_fast_s8(const ekd_add_params *params, int32_t size,
                           const int8_t *input1, const int8_t *input2, int8_t *output)
{
    ekd_add_prepared a;

    if (!ekd_add_fast_valid(params) || input1 == NULL || input2 == NULL || output == NULL ||
        size < 0) {
        return EKD_ERROR_ARGUMENT;
    }
    ekd_add_prepare_run(&a, params);
    ekd_add_run(&a, input1, input2, output, size);
    return EKD_OK;
}
