/*
 * The matrix kernel behind the optimized convolutions (internal; not part of the API).
 *
 * A convolution is a product of its weights (rows = output channels, each `depth` int8
 * values in TFLite's [kh][kw][in_c] order) and columns of input values, one per output
 * pixel: the values under the filter window (im2col). The code generator packs the
 * weights in blocks of four rows by four values ("rows4", edgekd/codegen/optimized.py):
 * block (b, g) holds rows 4b..4b+3, values 4g..4g+3, row after row, 16 bytes, zeros past
 * the last row or value; the blocks of a group of rows follow one another, so one pointer
 * walks four rows at once and no kernel needs a tail loop. The input offset is folded
 * into the bias offline (bias + input_offset * sum of the row's weights), so the columns
 * hold raw int8 inputs, and a tap in the padding holds the input zero point
 * (-input_offset), which cancels its share of the folded term: exactly TFLM's sum over
 * the taps inside the input.
 *
 * Four columns (output pixels) make a block in the scratch, interleaved the same way:
 * group g of the four columns is 4 x 4 int16 values. ekd_mat_mult_s8.c (portable C) keeps
 * them in natural order; ekd_mat_mult_s8_dsp.c (Arm DSP) in the order SXTB16 unpacks four
 * weights (x0 x2 x1 x3), so that SMLAD pairs each weight with its input and two LDMs load
 * the four columns' pairs. Values past `depth` in the last
 * group meet zero weights. Either way the scratch is EKD_MAT_MULT_BLOCK_BYTES(depth),
 * 4-byte aligned. Exactly one file defines these functions in a build, as ekd_dsp.h's
 * EKD_ARM_DSP and EKD_ARMV6M decide: ekd_mat_mult_s8_dsp.c (Arm DSP),
 * ekd_mat_mult_s8_v6m.c (Cortex-M0/M0+: Thumb-1 assembly, the block stored as inputs + 128
 * for LDRH at immediate offsets) or ekd_mat_mult_s8.c (portable C).
 */
#ifndef EDGEKD_EKD_MAT_MULT_S8_H
#define EDGEKD_EKD_MAT_MULT_S8_H

#include <stdint.h>

#include "edgekd/ekd.h"

#define EKD_MAT_MULT_COLUMNS 4

/* Longest dot product: 2^15 products of int8 x int8 stay far inside int32. */
#define EKD_MAT_MULT_MAX_DEPTH 32768

/* Scratch bytes of one block: four int16 columns of `depth` values in groups of four. */
#define EKD_MAT_MULT_BLOCK_BYTES(depth) ((((depth) + 3) / 4) * 4 * EKD_MAT_MULT_COLUMNS * 2)

/* Arm DSP: one group of four values for one row and the four columns, as inline assembly
 * text: w advances 16 bytes (the next group of the packed rows), x 32 bytes (four
 * columns' four values, DSP order). r8-r11 hold the column pairs; the operands a0-a3,
 * wp, xp, w and we are the asm statement's. Shared by ekd_mat_mult_s8_dsp.c and the
 * direct convolution's block path, which lays out its block the same way. */
#define EKD_MAT_MULT_GROUP                                 \
    "ldr    %[w], [%[wp]], #16\n\t"                  \
    "ldm    %[xp]!, {r8, r9, r10, r11}\n\t"          \
    "sxtb16 %[we], %[w]\n\t"                         \
    "sxtb16 %[w], %[w], ror #8\n\t"                  \
    "smlad  %[a0], %[we], r8, %[a0]\n\t"             \
    "smlad  %[a0], %[w], r9, %[a0]\n\t"              \
    "smlad  %[a1], %[we], r10, %[a1]\n\t"            \
    "smlad  %[a1], %[w], r11, %[a1]\n\t"             \
    "ldm    %[xp]!, {r8, r9, r10, r11}\n\t"          \
    "smlad  %[a2], %[we], r8, %[a2]\n\t"             \
    "smlad  %[a2], %[w], r9, %[a2]\n\t"              \
    "smlad  %[a3], %[we], r10, %[a3]\n\t"            \
    "smlad  %[a3], %[w], r11, %[a3]\n\t"

/* How accumulators become int8 outputs. */
typedef struct {
    const int32_t *bias; /* [rows], folded (see above); never NULL */
    const ekd_per_channel_quant *quant; /* ekd_requantize_fast_valid for the rows */
    int32_t output_offset;
    int32_t activation_min, activation_max;
} ekd_nn_output_params;

/* A block: four columns of `depth` values in the scratch. */
typedef struct {
    const void *scratch; /* EKD_MAT_MULT_BLOCK_BYTES(depth) bytes, 4-byte aligned */
    int32_t depth;
} ekd_nn_block;

/* Bytes of packed ("rows4") weights of `rows` rows of `depth` values. */
#define EKD_MAT_MULT_ROWS4_BYTES(rows, depth) ((((rows) + 3) / 4) * (((depth) + 3) / 4) * 16)

/* Values [k0, k0 + count) of column `column` of the block in `scratch`: copies of
 * src[0 .. count), or `count` times `value`. */
void ekd_nn_block_copy(void *scratch, int32_t column, int32_t k0, const int8_t *src,
                       int32_t count);
void ekd_nn_block_set(void *scratch, int32_t column, int32_t k0, int32_t count,
                      int32_t value);

/* Column `column` repeats column `from` (a final partial block repeats its last pixel,
 * and writes the same output bytes again). */
void ekd_nn_block_repeat(void *scratch, int32_t depth, int32_t column, int32_t from);

/* The convolution both optimized CONV_2D kernels run once their arguments are checked
 * (ekd_conv2d_im2col_s8.c): blocks of four output pixels, their windows copied into the
 * scratch, through ekd_nn_mat_mult_s8. `filter`: packed "rows4"; `bias`: folded. */
void ekd_nn_conv_s8(const ekd_conv_params *params, const ekd_per_channel_quant *quant,
                    const ekd_dims *input_dims, const int8_t *input,
                    const ekd_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                    const ekd_dims *output_dims, int8_t *output, void *scratch);

/* For every row r < rows and column j < 4: out[j][r] = requantized (bias[r] + sum_k
 * w[r][k] * column_j[k]), `weights` packed "rows4". The final accumulators must stay
 * below 2^30 in magnitude (the code generator checks |bias| + 255 * sum |w| with the
 * unfolded bias); depth <= EKD_MAT_MULT_MAX_DEPTH. */
void ekd_nn_mat_mult_s8(const int8_t *weights, int32_t rows, const ekd_nn_block *block,
                        const ekd_nn_output_params *params,
                        int8_t *const out[EKD_MAT_MULT_COLUMNS]);

#endif /* EDGEKD_EKD_MAT_MULT_S8_H */
