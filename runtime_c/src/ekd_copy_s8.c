/*
 * The layout ops (PAD, CONCATENATION, STRIDED_SLICE, TRANSPOSE, TILE and the front-end
 * ops made of them): one strided copy per operand, planned offline by the code generator
 * (edgekd/codegen/layout.py), and a fill for PAD's border. Values are bytes here; every
 * layout op moves them unchanged.
 */
#include "edgekd/ekd.h"

/* Byte loops, not <string.h> (the runtime is freestanding; compilers may still make
 * them memcpy/memset calls, which every freestanding target provides). */
static void ekd_copy_bytes(uint8_t *dst, const uint8_t *src, int32_t n)
{
    while (n-- > 0) {
        *dst++ = *src++;
    }
}

ekd_status ekd_copy_s8(const ekd_copy_params *params, const void *source, void *destination)
{
    int32_t index[EKD_COPY_MAX_RANK];
    const uint8_t *src = (const uint8_t *)source;
    uint8_t *dst = (uint8_t *)destination;
    int32_t d, rank;

    if (params == NULL || source == NULL || destination == NULL ||
        params->rank < 0 || params->rank > EKD_COPY_MAX_RANK || params->run_bytes < 0) {
        return EKD_ERROR_ARGUMENT;
    }
    rank = params->rank;
    for (d = 0; d < rank; ++d) {
        if (params->count[d] <= 0) {
            return params->count[d] == 0 ? EKD_OK : EKD_ERROR_ARGUMENT;
        }
        index[d] = 0;
    }
    for (;;) {
        ekd_copy_bytes(dst, src, params->run_bytes);
        /* Odometer over the outer axes, innermost fastest. */
        for (d = rank - 1; d >= 0; --d) {
            src += params->src_stride[d];
            dst += params->dst_stride[d];
            if (++index[d] < params->count[d]) {
                break;
            }
            src -= params->src_stride[d] * params->count[d];
            dst -= params->dst_stride[d] * params->count[d];
            index[d] = 0;
        }
        if (d < 0) {
            return EKD_OK;
        }
    }
}

ekd_status ekd_fill_s8(int32_t value, int32_t bytes, void *destination)
{
    if (destination == NULL || bytes < 0 || value < -128 || value > 255) {
        return EKD_ERROR_ARGUMENT;
    }
    {
        uint8_t *dst = (uint8_t *)destination;
        while (bytes-- > 0) {
            *dst++ = (uint8_t)(value & 0xFF);
        }
    }
    return EKD_OK;
}
