/*
 * AVERAGE_POOL_2D, int8, Helium (MVE) variant: window sums four channels per vector
 * (int8 widened to int32 as it loads), then TFLM's rounding of the mean, halves away from
 * zero, with one truncating division per value. Bit-exact with
 * reference_integer_ops::AveragePool, as ekd_avgpool_s8.
 *
 * In-place contract (edgekd/codegen/inplace.py mirrors it): pixels in raster order, one
 * at a time, written four channels at a time while the window is still being read.
 */
#include "edgekd/ekd.h"

#if EKD_HAVE_MVE

#include <arm_mve.h>

#include "ekd_fixedpoint.h"
#include "ekd_pool_window.h"

ekd_status ekd_avgpool_s8_mve(const ekd_pool_params *params,
                              const ekd_dims *input_dims, const int8_t *input,
                              const ekd_dims *output_dims, int8_t *output)
{
    int32_t batch, out_y, out_x, c, depth, in_w;
    int32x4_t act_min, act_max;
    int8_t *out = output;
    const ekd_status status = ekd_validate_pool(params, input_dims, input, output_dims, output);

    if (status != EKD_OK) {
        return status;
    }
    depth = output_dims->c;
    in_w = input_dims->w;
    act_min = vdupq_n_s32(params->activation_min);
    act_max = vdupq_n_s32(params->activation_max);
    for (batch = 0; batch < output_dims->n; ++batch) {
        const int8_t *image = input + (size_t)batch * input_dims->h * in_w * depth;
        for (out_y = 0; out_y < output_dims->h; ++out_y) {
            for (out_x = 0; out_x < output_dims->w; ++out_x) {
                const ekd_pool_window win = ekd_pool_window_at(params, input_dims, out_y, out_x);
                int32_t count, half;
                /* TFLM fails the op when a window lies entirely in the padding. */
                if (win.y_start >= win.y_end || win.x_start >= win.x_end) {
                    return EKD_ERROR_ARGUMENT;
                }
                count = (win.y_end - win.y_start) * (win.x_end - win.x_start);
                half = count / 2;
                for (c = 0; c < depth; c += 4) {
                    const mve_pred16_t lanes = vctp32q((uint32_t)(depth - c));
                    int32x4_t sum = vdupq_n_s32(0);
                    int32x4_t mean;
                    int32_t ky, kx;
                    for (ky = win.y_start; ky < win.y_end; ++ky) {
                        const int8_t *px = image + ((size_t)(win.in_y_origin + ky) * in_w +
                                                    (size_t)(win.in_x_origin + win.x_start)) *
                                                       depth + c;
                        for (kx = win.x_start; kx < win.x_end; ++kx) {
                            sum = vaddq_s32(sum, vldrbq_z_s32(px, lanes));
                            px += depth;
                        }
                    }
                    /* (sum + count/2) / count for a positive sum, (sum - count/2) / count
                     * otherwise, dividing as C does (toward zero). */
                    sum = vaddq_s32(sum, vpselq_s32(vdupq_n_s32(half), vdupq_n_s32(-half),
                                                    vcmpgtq_n_s32(sum, 0)));
                    mean = vdupq_n_s32(vgetq_lane_s32(sum, 0) / count);
                    mean = vsetq_lane_s32(vgetq_lane_s32(sum, 1) / count, mean, 1);
                    mean = vsetq_lane_s32(vgetq_lane_s32(sum, 2) / count, mean, 2);
                    mean = vsetq_lane_s32(vgetq_lane_s32(sum, 3) / count, mean, 3);
                    mean = vminq_s32(vmaxq_s32(mean, act_min), act_max);
                    vstrbq_p_s32(out + c, mean, lanes);
                }
                out += depth;
            }
        }
    }
    return EKD_OK;
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int ekd_avgpool_s8_mve_not_built;

#endif /* EKD_HAVE_MVE */
