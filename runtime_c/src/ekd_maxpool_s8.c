/*
 * MAX_POOL_2D, int8 (input and output share scale and zero point).
 * Bit-exact with TFLM's reference_integer_ops::MaxPool: the maximum over the part of the
 * window inside the input (-128 if none), clamped to the activation range.
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_pool_window.h"

ekd_status ekd_maxpool_s8(const ekd_pool_params *params,
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
                for (c = 0; c < depth; ++c) {
                    int32_t max = -128;
                    int32_t ky, kx;
                    for (ky = win.y_start; ky < win.y_end; ++ky) {
                        const int8_t *row =
                            input_image + (size_t)(win.in_y_origin + ky) * input_dims->w * depth;
                        for (kx = win.x_start; kx < win.x_end; ++kx) {
                            max = ekd_max_s32(max, row[(size_t)(win.in_x_origin + kx) * depth + c]);
                        }
                    }
                    max = ekd_clamp_s32(max, params->activation_min, params->activation_max);
                    output[(((size_t)batch * output_dims->h + out_y) * output_dims->w + out_x) *
                               depth + c] = (int8_t)max;
                }
            }
        }
    }
    return EKD_OK;
}
