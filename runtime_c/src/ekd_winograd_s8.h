/*
 * The Winograd F(2x2, 3x3) core of ekd_conv2d_winograd_s8 and ekd_conv2d_winograd_add_s8
 * (internal; not part of the API).
 *
 * A 3x3 convolution at stride 1 computes each 2x2 block of outputs from a 4x4 tile d of
 * inputs in 16 products per input channel instead of 36: with integer transforms,
 *     4 * y = AT [ sum over input channels of U (.) V ] AT^T,
 *     U = G2 g G2^T (the filter g, transformed offline; |U| <= 1152),
 *     V = BT d BT^T (|V| <= 512 for int8 inputs),
 *     BT = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G2 = 2 * G = [2 0 0; 1 1 1; 1 -1 1;
 *     0 0 2], AT = [1 1 1 0; 0 1 -1 -1],
 * exact in integers (edgekd/codegen/optimized.py checks offline that no int32 sum of it
 * can overflow). The inputs are raw int8 with the zero point in the padding and the bias
 * folded, as in ekd_mat_mult_s8.h, so y is exactly TFLM's accumulator minus the bias.
 *
 * The kernel works two tiles at a time (the scratch stays small: the arena's peak is
 * often at a 3x3 layer). Their transformed inputs live in the scratch as
 * V[16 positions][groups of 4 input channels][2 tiles][4 channels] (int16), the channels
 * of a group in the order SXTB16 unpacks four int8 values (c0 c2 c1 c3); the filter comes
 * as U[16][groups of 4 output channels][groups of 4 input channels][4 outputs][4 inputs]
 * (int16, the same channel order), so for one position a group of four output channels
 * times the two tiles is a small matrix product over the input channels, written to
 * M[2 tiles][4 output channels][16 positions] (int32). Exactly one of ekd_winograd_s8.c
 * (portable C: 4 x 2 accumulators) and ekd_winograd_s8_dsp.c (Arm DSP: a tile at a
 * time, SMLAD taking two int16 products) defines the functions in a build.
 */
#ifndef EDGEKD_EKD_WINOGRAD_S8_H
#define EDGEKD_EKD_WINOGRAD_S8_H

#include <stdint.h>

/* Input channels a layer may have (their transformed products must fit int32 anyway). */
#define EKD_WINOGRAD_MAX_IN_C 4096

#define EKD_WINOGRAD_TILES 2

/* Bytes of V for the tiles: the whole scratch. */
#define EKD_WINOGRAD_SCRATCH_BYTES(in_c) (16 * (((in_c) + 3) / 4) * EKD_WINOGRAD_TILES * 4 * 2)

/* V of tile `tile` (0 or 1): the 4x4 inputs whose top-left is input pixel (y0, x0) (taps
 * outside the in_h x in_w image read `zero_point`), for all in_c channels. */
void ekd_nn_winograd_input(int16_t *v, int32_t tile, const int8_t *image, int32_t in_h,
                           int32_t in_w, int32_t in_c, int32_t y0, int32_t x0,
                           int32_t zero_point);

/* M[t][r][position] = sum over input channels of U * V, for both tiles and the four
 * output channels of group `out_group` (those past the last output channel have zero
 * weights). */
void ekd_nn_winograd_multiply(const int16_t *u, int32_t out_groups, int32_t out_group,
                              int32_t in_groups, const int16_t *v,
                              int32_t m[EKD_WINOGRAD_TILES][4][16]);

#endif /* EDGEKD_EKD_WINOGRAD_S8_H */
