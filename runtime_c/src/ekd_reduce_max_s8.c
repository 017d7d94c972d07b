/*
 * REDUCE_MAX, int8, over the reduced dims of an ekd_reduce_shape, as TFLM's ReduceGeneric
 * with max (input and output share one quantization). The output must not overlap the
 * input.
 */
#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_shape_loops.h"
#include "ekd_validate.h"

static int32_t ekd_max_of_window(const ekd_reduce_shape *s, const int8_t *window)
{
    int32_t best = -128;
    EKD_FOR_EACH_4D(s->reduced, s->reduced_stride, at, s->reduced_stride, unused, {
        (void)unused;
        best = ekd_max_s32(best, window[at]);
    });
    return best;
}

ekd_status ekd_reduce_max_s8(const ekd_reduce_shape *shape, const int8_t *input,
                             int8_t *output)
{
    size_t out = 0;

    if (input == NULL || output == NULL || !ekd_reduce_shape_valid(shape)) {
        return EKD_ERROR_ARGUMENT;
    }
    EKD_FOR_EACH_4D(shape->kept, shape->kept_stride, base, shape->kept_stride, unused, {
        (void)unused;
        output[out++] = (int8_t)ekd_max_of_window(shape, input + base);
    });
    return EKD_OK;
}
