/*
 * RESIZE_NEAREST_NEIGHBOR on 8-bit values: each output pixel is a copy of the input pixel
 * the offline maps name (edgekd/reference/resize.py computes them as TFLM does), so the
 * kernel copies runs of `c` bytes and never rounds.
 */
#include "edgekd/ekd.h"

ekd_status ekd_resize_nearest_s8(const ekd_dims *input_dims, const ekd_dims *output_dims,
                                 const int32_t *y_map, const int32_t *x_map,
                                 const void *input, void *output)
{
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    int32_t n, y, x, c;

    if (input_dims == NULL || output_dims == NULL || y_map == NULL || x_map == NULL ||
        input == NULL || output == NULL || input_dims->n != output_dims->n ||
        input_dims->c != output_dims->c) {
        return EKD_ERROR_ARGUMENT;
    }
    for (n = 0; n < output_dims->n; ++n) {
        const uint8_t *image = in + (size_t)n * input_dims->h * input_dims->w * input_dims->c;
        for (y = 0; y < output_dims->h; ++y) {
            const uint8_t *row = image + (size_t)y_map[y] * input_dims->w * input_dims->c;
            for (x = 0; x < output_dims->w; ++x) {
                const uint8_t *pixel = row + (size_t)x_map[x] * input_dims->c;
                for (c = 0; c < output_dims->c; ++c) {
                    *out++ = pixel[c];
                }
            }
        }
    }
    return EKD_OK;
}
