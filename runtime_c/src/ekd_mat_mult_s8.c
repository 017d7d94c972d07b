/*
 * The matrix kernel of ekd_mat_mult_s8.h in portable C99 (Cortex-M3, RISC-V, hosts;
 * Armv6-M has ekd_mat_mult_s8_v6m.c, Arm DSP cores ekd_mat_mult_s8_dsp.c).
 *
 * The block holds the columns as int16 (the layout of the DSP variant, so the scratch it
 * is sized for is all used: no load costs more for it), group g as column 0's four
 * values, then column 1's, ...; the weights come packed "rows4" (16 bytes per four rows
 * and four values): a row group's weights and a block's columns are each walked by one
 * pointer with constant offsets. Per depth value, each weight load serves four columns and each
 * input load serves the rows of the pass: four rows on RISC-V (16 accumulators; it has
 * the registers and no multiply-accumulate), two elsewhere (8 accumulators fit a
 * Cortex-M3, whose MLA does the multiply-accumulate in one instruction).
 */
#include "ekd_dsp.h"

#if !EKD_ARM_DSP && !EKD_ARMV6M

#include "ekd_fixedpoint.h"
#include "ekd_mat_mult_s8.h"
#include "ekd_requantize.h"

#if defined(__riscv)
#define EKD_MM_ROWS 4
#else
#define EKD_MM_ROWS 2
#endif

void ekd_nn_block_copy(void *scratch, int32_t column, int32_t k0, const int8_t *src,
                       int32_t count)
{
    int16_t *block = (int16_t *)scratch;
    int32_t k = k0;
    const int32_t end = k0 + count;
    for (; k < end && (k & 3) != 0; ++k) {
        block[16 * (k >> 2) + 4 * column + (k & 3)] = *src++;
    }
    for (; k + 4 <= end; k += 4) {
        int16_t *dst = block + 16 * (k >> 2) + 4 * column;
        dst[0] = src[0];
        dst[1] = src[1];
        dst[2] = src[2];
        dst[3] = src[3];
        src += 4;
    }
    for (; k < end; ++k) {
        block[16 * (k >> 2) + 4 * column + (k & 3)] = *src++;
    }
}

void ekd_nn_block_set(void *scratch, int32_t column, int32_t k0, int32_t count,
                      int32_t value)
{
    int16_t *block = (int16_t *)scratch;
    int32_t k;
    for (k = k0; k < k0 + count; ++k) {
        block[16 * (k >> 2) + 4 * column + (k & 3)] = (int16_t)value;
    }
}

void ekd_nn_block_repeat(void *scratch, int32_t depth, int32_t column, int32_t from)
{
    int16_t *block = (int16_t *)scratch;
    int32_t g, i;
    for (g = 0; g < (depth + 3) / 4; ++g) {
        for (i = 0; i < 4; ++i) {
            block[16 * g + 4 * column + i] = block[16 * g + 4 * from + i];
        }
    }
}

/* Requantize, offset and clamp one accumulator of row `row` (bias not yet added). */
static inline int8_t ekd_mm_output(int32_t acc, int32_t row,
                                   const ekd_nn_output_params *params)
{
    const ekd_requant_channel r = ekd_requant_channel_at(params->quant, row);
    return ekd_requantize_output(ekd_wrapping_add_s32(acc, params->bias[row]), r,
                                 params->output_offset, params->activation_min,
                                 params->activation_max);
}

/* Keeps the compiler from interleaving the loads of several depth values, which on
 * RISC-V made it spill accumulators (a hint only; nothing depends on it). */
#if defined(__GNUC__)
#define EKD_MM_BARRIER() __asm__ volatile("" ::: "memory")
#else
#define EKD_MM_BARRIER() ((void)0)
#endif

/* acc_j += w * x_j for the four columns of one depth value. */
#define EKD_MM_COLUMNS(a, w)     \
    do {                         \
        const int32_t w_ = (w);  \
        a##0 += w_ * x0;         \
        a##1 += w_ * x1;         \
        a##2 += w_ * x2;         \
        a##3 += w_ * x3;         \
    } while (0)

/* Depth value k of the group: the four columns' inputs, then each row's weight. */
#if EKD_MM_ROWS == 4
#define EKD_MM_VALUE(k)                                                     \
    do {                                                                    \
        const int32_t x0 = x[k], x1 = x[4 + k], x2 = x[8 + k], x3 = x[12 + k]; \
        EKD_MM_COLUMNS(a, w[k]);                                            \
        EKD_MM_BARRIER();                                                   \
        EKD_MM_COLUMNS(b, w[4 + k]);                                        \
        EKD_MM_BARRIER();                                                   \
        EKD_MM_COLUMNS(c, w[8 + k]);                                        \
        EKD_MM_BARRIER();                                                   \
        EKD_MM_COLUMNS(d, w[12 + k]);                                       \
    } while (0)
#else
#define EKD_MM_VALUE(k)                                                     \
    do {                                                                    \
        const int32_t x0 = x[k], x1 = x[4 + k], x2 = x[8 + k], x3 = x[12 + k]; \
        EKD_MM_COLUMNS(a, w[k]);                                            \
        EKD_MM_COLUMNS(b, w[4 + k]);                                        \
    } while (0)
#endif

void ekd_nn_mat_mult_s8(const int8_t *weights, int32_t rows, const ekd_nn_block *block,
                        const ekd_nn_output_params *params,
                        int8_t *const out[EKD_MAT_MULT_COLUMNS])
{
    const int32_t groups = (block->depth + 3) / 4;
    const int16_t *columns = (const int16_t *)block->scratch;
    int8_t *const o0 = out[0], *const o1 = out[1], *const o2 = out[2], *const o3 = out[3];
    int32_t row;

    for (row = 0; row < rows; row += EKD_MM_ROWS) {
        /* The rows' packed weights: row group `row / 4`, row `row % 4` within it. */
        const int8_t *w = weights + (size_t)(row >> 2) * groups * 16 + 4 * (row & 3);
        const int16_t *x = columns;
        /* Sums of at most EKD_MAT_MULT_MAX_DEPTH products of int8 values: no overflow. */
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
#if EKD_MM_ROWS == 4
        int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0;
#endif
        const int16_t *const end = x + 16 * groups;
        while (x != end) {
            EKD_MM_VALUE(0);
            EKD_MM_BARRIER();
            EKD_MM_VALUE(1);
            EKD_MM_BARRIER();
            EKD_MM_VALUE(2);
            EKD_MM_BARRIER();
            EKD_MM_VALUE(3);
            w += 16;
            x += 16;
        }
        o0[row] = ekd_mm_output(a0, row, params);
        o1[row] = ekd_mm_output(a1, row, params);
        o2[row] = ekd_mm_output(a2, row, params);
        o3[row] = ekd_mm_output(a3, row, params);
        if (row + 1 < rows) {
            o0[row + 1] = ekd_mm_output(b0, row + 1, params);
            o1[row + 1] = ekd_mm_output(b1, row + 1, params);
            o2[row + 1] = ekd_mm_output(b2, row + 1, params);
            o3[row + 1] = ekd_mm_output(b3, row + 1, params);
        }
#if EKD_MM_ROWS == 4
        if (row + 2 < rows) {
            o0[row + 2] = ekd_mm_output(c0, row + 2, params);
            o1[row + 2] = ekd_mm_output(c1, row + 2, params);
            o2[row + 2] = ekd_mm_output(c2, row + 2, params);
            o3[row + 2] = ekd_mm_output(c3, row + 2, params);
        }
        if (row + 3 < rows) {
            o0[row + 3] = ekd_mm_output(d0, row + 3, params);
            o1[row + 3] = ekd_mm_output(d1, row + 3, params);
            o2[row + 3] = ekd_mm_output(d2, row + 3, params);
            o3[row + 3] = ekd_mm_output(d3, row + 3, params);
        }
#endif
    }
}

#else
typedef int ekd_mat_mult_s8_unused; /* ISO C forbids an empty translation unit */
#endif /* !EKD_ARM_DSP && !EKD_ARMV6M */
