/*
 * The core of ekd_depthwise_conv2d_fast_s8 (internal; not part of the API): one group of
 * up to four channels over every output pixel of one image.
 *
 * For each output pixel and channel c of the group: out[c] = requantized(bias[c] + sum
 * over the window's taps inside the input of w[tap][c] * (x[tap][c] + input_offset));
 * taps in the padding are skipped, as TFLM's reference does. Working a group of channels
 * through all pixels lets each variant prepare the group's weights and requantization
 * once. Exactly one of ekd_depthwise_group_s8.c (portable C) and
 * ekd_depthwise_group_s8_dsp.c (Arm DSP: SXTAB16 adds the input offset while it unpacks
 * four inputs, SMLABB/SMLATT accumulate each channel's halfword) defines it in a build.
 */
#ifndef EDGEKD_EKD_DEPTHWISE_GROUP_S8_H
#define EDGEKD_EKD_DEPTHWISE_GROUP_S8_H

#include <stddef.h>
#include <stdint.h>

#include "edgekd/ekd.h"

/* Taps of a window the variants prepare their weights for on the stack (5x5). */
#define EKD_DW_PREPARED_TAPS 25

typedef struct {
    const int8_t *input;   /* the image, at the group's first channel */
    const int8_t *filter;  /* [kh][kw][channels], at the group's first channel */
    const int32_t *bias;   /* at the group's first channel, or NULL */
    const int32_t *multiplier, *shift; /* at the group's first channel */
    int8_t *output;        /* the output image, at the group's first channel */
    int32_t count;         /* channels in the group, 1..4 */
    int32_t channels;      /* channels of the tensors: the step between pixels */
    const ekd_conv_params *params;
    int32_t in_h, in_w, out_h, out_w, kernel_h, kernel_w;
} ekd_nn_dw_group;

void ekd_nn_depthwise_group_s8(const ekd_nn_dw_group *group);

/* The filter indices k with 0 <= origin + k * dilation < size: [*first, *end). */
static inline void ekd_dw_valid_taps(int32_t origin, int32_t dilation, int32_t kernel,
                                     int32_t size, int32_t *first, int32_t *end)
{
    int32_t k0 = 0, k1 = kernel;
    if (dilation == 1) { /* no division (Cortex-M0 has none) */
        k0 = origin < 0 ? -origin : 0;
        k1 = size - origin < kernel ? size - origin : kernel;
        *first = k0;
        *end = k1 > k0 ? k1 : k0;
        return;
    }
    if (origin < 0) {
        k0 = (-origin + dilation - 1) / dilation;
    }
    if (origin + (kernel - 1) * dilation >= size) {
        k1 = size - origin <= 0 ? 0 : (size - origin + dilation - 1) / dilation;
    }
    *first = k0;
    *end = k1 > k0 ? k1 : k0;
}

#endif /* EDGEKD_EKD_DEPTHWISE_GROUP_S8_H */
