/*
 * MAXIMUM, int8, with TFLite's broadcasting: compares codes (inputs and output share one
 * quantization), as TFLM's MaximumMinimumBroadcastSlow.
 */
#include "ekd_shape_loops.h"

ekd_status ekd_maximum_s8(const ekd_broadcast_shape *shape, const int8_t *input1,
                          const int8_t *input2, int8_t *output)
{
    return ekd_extreme_s8(shape, input1, input2, output, 1);
}
