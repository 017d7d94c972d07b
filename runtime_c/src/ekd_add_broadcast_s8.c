/*
 * ADD, int8, where its inputs differ in shape or one is a constant: TFLM's ADD with
 * TFLite's broadcasting (ekd_add_sub.h). The output may alias an input that is not
 * broadcast.
 */
#include "ekd_add_sub.h"

ekd_status ekd_add_broadcast_s8(const ekd_add_params *params, const ekd_broadcast_shape *shape,
                                const int8_t *input1, const int8_t *input2, int8_t *output)
{
    return ekd_add_or_sub_s8(params, shape, input1, input2, output, 1);
}
