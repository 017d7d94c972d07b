/*
 * Argument checks shared by the optimized convolutions (internal): what
 * ekd_conv2d_1x1_s8, ekd_conv2d_im2col_s8 and ekd_depthwise_conv2d_fast_s8 accept beyond
 * ekd_validate_conv. The accumulator bound (|bias| + 255 * sum |w| < 2^30) is not
 * checked here: it needs a pass over the weights, so the code generator checks it offline.
 */
#ifndef EDGEKD_EKD_CONV_FAST_H
#define EDGEKD_EKD_CONV_FAST_H

#include <stdint.h>

#include "edgekd/ekd.h"
#include "ekd_requantize.h"
#include "ekd_validate.h"

/* Scratch given to a kernel: at least `need` bytes, 4-byte aligned (LDM loads it). */
static inline ekd_status ekd_validate_scratch(const ekd_context *ctx, int32_t need)
{
    if (need == 0) {
        return EKD_OK;
    }
    if (ctx == NULL || ctx->buf == NULL || ctx->size < need) {
        return EKD_ERROR_SCRATCH;
    }
    if (((uintptr_t)ctx->buf & 3u) != 0) {
        return EKD_ERROR_ARGUMENT;
    }
    return EKD_OK;
}

/* Pointers, ekd_validate_conv and the fast requantization's multipliers and shifts (out
 * of line, ekd_validate.c, as ekd_validate_conv). */
ekd_status ekd_validate_conv_fast(const ekd_conv_params *params,
                                  const ekd_per_channel_quant *quant,
                                  const ekd_dims *input_dims, const int8_t *input,
                                  const ekd_dims *filter_dims, const int8_t *filter,
                                  const ekd_dims *output_dims, const int8_t *output);

#endif /* EDGEKD_EKD_CONV_FAST_H */
