/*
 * ARG_MAX, int8 input, int32 output, along the one reduced dim of an ekd_reduce_shape
 * (ekd_shape_loops.h).
 */
#include "ekd_shape_loops.h"

ekd_status ekd_arg_max_s8(const ekd_reduce_shape *shape, const int8_t *input, int32_t *output)
{
    return ekd_arg_extreme_s8(shape, input, output, 1);
}
