/*
 * Every int8 -> int8 elementwise activation and REQUANTIZE as one table lookup.
 * An op whose output depends on one int8 code alone is a function of 256 values; the
 * code generator tabulates it offline from the numpy reference (edgekd/reference/
 * activations.py), which the per-op tests hold to TFLM's bytes. On the device this is
 * one load per value, whatever fixed-point arithmetic TFLM spends on it.
 */
#include "edgekd/ekd.h"

ekd_status ekd_lut_s8(const int8_t *table, int32_t size, const int8_t *input, int8_t *output)
{
    int32_t i;

    if (table == NULL || input == NULL || output == NULL || size < 0) {
        return EKD_ERROR_ARGUMENT;
    }
    for (i = 0; i < size; ++i) {
        output[i] = table[(int32_t)input[i] + 128];
    }
    return EKD_OK;
}
