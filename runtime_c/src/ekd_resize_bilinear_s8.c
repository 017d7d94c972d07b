/*
 * RESIZE_BILINEAR on int8 codes, as TFLM's integer reference: each output value blends
 * its four input neighbours with weights in 1/1024ths per axis (tables computed offline
 * by edgekd/reference/resize.py), the sum in 1/2^20ths rounded halves away from zero.
 * |code| <= 128 and each weight product <= 2048^2 keep the sum inside int32.
 */
#include "edgekd/ekd.h"

ekd_status ekd_resize_bilinear_s8(const ekd_dims *input_dims, const ekd_dims *output_dims,
                                  const int32_t *y_table, const int32_t *x_table,
                                  const int8_t *input, int8_t *output)
{
    const int32_t one = 1 << 10;
    int32_t n, y, x, c;

    if (input_dims == NULL || output_dims == NULL || y_table == NULL || x_table == NULL ||
        input == NULL || output == NULL || input_dims->n != output_dims->n ||
        input_dims->c != output_dims->c) {
        return EKD_ERROR_ARGUMENT;
    }
    for (n = 0; n < output_dims->n; ++n) {
        const int8_t *image = input + (size_t)n * input_dims->h * input_dims->w * input_dims->c;
        for (y = 0; y < output_dims->h; ++y) {
            const int32_t *ty = y_table + 3 * y;
            const int8_t *row0 = image + (size_t)ty[0] * input_dims->w * input_dims->c;
            const int8_t *row1 = image + (size_t)ty[1] * input_dims->w * input_dims->c;
            for (x = 0; x < output_dims->w; ++x) {
                const int32_t *tx = x_table + 3 * x;
                const int32_t w00 = (one - ty[2]) * (one - tx[2]), w10 = ty[2] * (one - tx[2]);
                const int32_t w01 = (one - ty[2]) * tx[2], w11 = ty[2] * tx[2];
                const int8_t *p00 = row0 + (size_t)tx[0] * input_dims->c;
                const int8_t *p01 = row0 + (size_t)tx[1] * input_dims->c;
                const int8_t *p10 = row1 + (size_t)tx[0] * input_dims->c;
                const int8_t *p11 = row1 + (size_t)tx[1] * input_dims->c;
                for (c = 0; c < output_dims->c; ++c) {
                    const int32_t sum = p00[c] * w00 + p10[c] * w10 + p01[c] * w01 +
                                        p11[c] * w11;
                    const int32_t half = sum > 0 ? (1 << 19) : -(1 << 19);
                    *output++ = (int8_t)((sum + half) / (1 << 20));
                }
            }
        }
    }
    return EKD_OK;
}
