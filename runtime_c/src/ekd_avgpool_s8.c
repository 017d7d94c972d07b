/*
 * AVERAGE_POOL_2D, int8 (input and output share scale and zero point).
 * Bit-exact with TFLM's reference_integer_ops::AveragePool: the sum over the part of the
 * window inside the input, divided by the number of those values, rounding halves away
 * from zero.
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_pool_window.h"

ekd_status ekd_avgpool_s8(const ekd_pool_params *params,
                          const ekd_dims *input_dims, const int8_t *input,
                          const ekd_dims *output_dims, int8_t *output)
{
    int32_t batch, out_y, out_x, c;
    const int32_t depth = output_dims != NULL ? output_dims->c : 0;
    const ekd_status status = ekd_validate_pool(params, input_dims, input, output_dims, output);

    if (status != EKD_OK) {
        return status;
    }
    for (batch = 0; batch < output_dims->n; ++batch) {
        const int8_t *input_image =
            input + (size_t)batch * input_dims->h * input_dims->w * depth;
        for (out_y = 0; out_y < output_dims->h; ++out_y) {
            for (out_x = 0; out_x < output_dims->w; ++out_x) {
                const ekd_pool_window win = ekd_pool_window_at(params, input_dims, out_y, out_x);
                /* TFLM fails the op when a window lies entirely in the padding. */
                if (win.y_start >= win.y_end || win.x_start >= win.x_end) {
                    return EKD_ERROR_ARGUMENT;
                }
                for (c = 0; c < depth; ++c) {
                    const int32_t count = (win.y_end - win.y_start) * (win.x_end - win.x_start);
                    int32_t sum = 0;
                    int32_t ky, kx;
                    for (ky = win.y_start; ky < win.y_end; ++ky) {
                        const int8_t *row =
                            input_image + (size_t)(win.in_y_origin + ky) * input_dims->w * depth;
                        for (kx = win.x_start; kx < win.x_end; ++kx) {
                            sum += row[(size_t)(win.in_x_origin + kx) * depth + c];
                        }
                    }
                    /* C division truncates toward zero, so adding half the count with the
                     * sign of the sum rounds halves away from zero. */
                    sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                    sum = ekd_clamp_s32(sum, params->activation_min, params->activation_max);
                    output[(((size_t)batch * output_dims->h + out_y) * output_dims->w + out_x) *
                               depth + c] = (int8_t)sum;
                }
            }
        }
    }
    return EKD_OK;
}
