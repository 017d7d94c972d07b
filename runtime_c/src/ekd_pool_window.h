/*
 * The part of a pooling window that lies inside the input (internal), as TFLM's
 * reference pooling kernels clamp it: padded positions are skipped, not counted.
 */
#ifndef EDGEKD_EKD_POOL_WINDOW_H
#define EDGEKD_EKD_POOL_WINDOW_H

#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_validate.h"

/* Window rows [y_start, y_end) and columns [x_start, x_end), in filter coordinates,
 * relative to the input origin (in_y_origin, in_x_origin). */
typedef struct {
    int32_t in_y_origin, in_x_origin;
    int32_t y_start, y_end, x_start, x_end;
} ekd_pool_window;

static inline ekd_pool_window ekd_pool_window_at(const ekd_pool_params *params,
                                                 const ekd_dims *input_dims,
                                                 int32_t out_y, int32_t out_x)
{
    ekd_pool_window win;
    win.in_y_origin = out_y * params->stride_h - params->pad_h;
    win.in_x_origin = out_x * params->stride_w - params->pad_w;
    win.y_start = ekd_max_s32(0, -win.in_y_origin);
    win.y_end = ekd_min_s32(params->filter_h, input_dims->h - win.in_y_origin);
    win.x_start = ekd_max_s32(0, -win.in_x_origin);
    win.x_end = ekd_min_s32(params->filter_w, input_dims->w - win.in_x_origin);
    return win;
}

static inline ekd_status ekd_validate_pool(const ekd_pool_params *params,
                                           const ekd_dims *input_dims, const int8_t *input,
                                           const ekd_dims *output_dims, const int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL || !ekd_dims_valid(input_dims) ||
        !ekd_dims_valid(output_dims) || input_dims->n != output_dims->n ||
        input_dims->c != output_dims->c) {
        return EKD_ERROR_ARGUMENT;
    }
    if (params->stride_h < 1 || params->stride_w < 1 || params->filter_h < 1 ||
        params->filter_w < 1 || params->pad_h < 0 || params->pad_w < 0 ||
        !ekd_activation_valid(params->activation_min, params->activation_max)) {
        return EKD_ERROR_ARGUMENT;
    }
    return EKD_OK;
}

#endif /* EDGEKD_EKD_POOL_WINDOW_H */
