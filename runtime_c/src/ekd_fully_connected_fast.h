/*
 * The row loop behind ekd_fully_connected_fast_s8 (internal; not part of the API).
 *
 * One input vector of `depth` int8 values times the weights packed "rows4" (blocks of 4
 * rows x 4 values, ekd_mat_mult_s8.h), four rows per pass so that each group of four
 * inputs is loaded (and, on DSP cores, unpacked by SXTB16) once for four rows. The bias
 * is folded offline (bias + input_offset * sum of the row's weights), so the inputs go in
 * raw. Exactly one of ekd_fully_connected_fast_s8.c (portable C) and
 * ekd_fully_connected_fast_s8_dsp.c (Arm DSP: SMLAD) defines ekd_nn_vec_mat_s8 in a
 * build, as ekd_dsp.h's EKD_ARM_DSP decides.
 */
#ifndef EDGEKD_EKD_FULLY_CONNECTED_FAST_H
#define EDGEKD_EKD_FULLY_CONNECTED_FAST_H

#include <stdint.h>

#include "edgekd/ekd.h"
#include "ekd_mat_mult_s8.h"
#include "ekd_requantize.h"

/* out[r] = requantized (bias[r] + sum_k w[r][k] * x[k]) for r < rows; the accumulators
 * within the fast requantization's bound (the generator checks it). */
void ekd_nn_vec_mat_s8(const int8_t *x, int32_t depth, const int8_t *weights, int32_t rows,
                       const ekd_nn_output_params *params, int8_t *out);

/* Four inputs from x[k..k + n) (n = 1..4), zeros past the end, packed as one word
 * little-endian: the last, partial group of a row, read without touching the byte past
 * the vector. */
static inline uint32_t ekd_fc_tail_word(const int8_t *x, int32_t n)
{
    uint32_t word = 0;
    int32_t i;
    for (i = 0; i < n; ++i) {
        word |= (uint32_t)(uint8_t)x[i] << (8 * i);
    }
    return word;
}

/* Requantize the four accumulators of rows r..r + 3 (those below `rows`) into out. */
static inline void ekd_fc_store4(const ekd_nn_output_params *params, int32_t r, int32_t rows,
                                 const int32_t acc[4], int8_t *out)
{
    int32_t i;
    for (i = 0; i < 4 && r + i < rows; ++i) {
        out[r + i] = ekd_requantize_output(acc[i], ekd_requant_channel_at(params->quant, r + i),
                                           params->output_offset, params->activation_min,
                                           params->activation_max);
    }
}

#endif /* EDGEKD_EKD_FULLY_CONNECTED_FAST_H */
