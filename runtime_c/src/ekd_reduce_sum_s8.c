/*
 * MEAN and SUM, int8, over the reduced dims of an ekd_reduce_shape.
 * Bit-exact with TFLM's QuantizedMeanOrSum: an int32 sum (wrapping as TFLM's does),
 * offset by -zero_point x count, one requantization with MEAN's 1/count folded into the
 * multiplier offline. The output is written in order, each value once; it must not
 * overlap the input.
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_shape_loops.h"
#include "ekd_validate.h"

static int32_t ekd_sum_of_window(const ekd_reduce_shape *s, const int8_t *window)
{
    uint32_t sum = 0u; /* wraps as TFLM's int32 sum does */
    EKD_FOR_EACH_4D(s->reduced, s->reduced_stride, at, s->reduced_stride, unused, {
        (void)unused;
        sum += (uint32_t)(int32_t)window[at];
    });
    return ekd_s32_from_bits(sum);
}

/* One MEAN or SUM output from the int32 sum of its window. */
static int8_t ekd_reduce_output(const ekd_reduce_params *p, int32_t sum)
{
    const int32_t scaled = ekd_multiply_by_quantized_multiplier(
        ekd_wrapping_add_s32(sum, p->sum_bias), p->multiplier, p->shift);
    return (int8_t)ekd_clamp_s32(ekd_wrapping_add_s32(scaled, p->output_offset), -128, 127);
}

/* The global-average-pool form: one reduced dim (reduced[3]) and the innermost kept dim
 * contiguous, so four neighbouring outputs sum their windows in one pass, reading four
 * adjacent bytes per step ([C] x [H * W] reads each pixel's channels in order). */
static void ekd_reduce_sum_rows(const ekd_reduce_params *params, const ekd_reduce_shape *shape,
                                const int8_t *input, int8_t *output)
{
    const int32_t n = shape->kept[3], count = shape->reduced[3];
    const size_t step = (size_t)shape->reduced_stride[3];
    size_t out = 0;

    EKD_FOR_EACH_ROW(shape->kept, shape->kept_stride, row, shape->kept_stride, unused, {
        int32_t c = 0, r;
        (void)unused;
        for (; c + 4 <= n; c += 4) {
            const int8_t *x = input + row + c;
            uint32_t s0 = 0u, s1 = 0u, s2 = 0u, s3 = 0u; /* wrap as TFLM's int32 sums */
            for (r = 0; r < count; ++r, x += step) {
                s0 += (uint32_t)(int32_t)x[0];
                s1 += (uint32_t)(int32_t)x[1];
                s2 += (uint32_t)(int32_t)x[2];
                s3 += (uint32_t)(int32_t)x[3];
            }
            output[out++] = ekd_reduce_output(params, ekd_s32_from_bits(s0));
            output[out++] = ekd_reduce_output(params, ekd_s32_from_bits(s1));
            output[out++] = ekd_reduce_output(params, ekd_s32_from_bits(s2));
            output[out++] = ekd_reduce_output(params, ekd_s32_from_bits(s3));
        }
        for (; c < n; ++c) {
            const int8_t *x = input + row + c;
            uint32_t s = 0u;
            for (r = 0; r < count; ++r, x += step) {
                s += (uint32_t)(int32_t)x[0];
            }
            output[out++] = ekd_reduce_output(params, ekd_s32_from_bits(s));
        }
    });
}

ekd_status ekd_reduce_sum_s8(const ekd_reduce_params *params, const ekd_reduce_shape *shape,
                             const int8_t *input, int8_t *output)
{
    size_t out = 0;

    if (params == NULL || input == NULL || output == NULL ||
        !ekd_reduce_shape_valid(shape) || !ekd_shift_valid(params->shift) ||
        !ekd_offset_valid(params->output_offset)) {
        return EKD_ERROR_ARGUMENT;
    }
    if (shape->reduced[0] == 1 && shape->reduced[1] == 1 && shape->reduced[2] == 1 &&
        shape->kept_stride[3] == 1) {
        ekd_reduce_sum_rows(params, shape, input, output);
        return EKD_OK;
    }
    EKD_FOR_EACH_4D(shape->kept, shape->kept_stride, base, shape->kept_stride, unused, {
        (void)unused;
        output[out++] = ekd_reduce_output(params, ekd_sum_of_window(shape, input + base));
    });
    return EKD_OK;
}
