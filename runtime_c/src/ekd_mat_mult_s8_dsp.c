/*
 * The matrix kernel of ekd_mat_mult_s8.h for Arm cores with the DSP extension
 * (Cortex-M4, M7, M33, M55).
 *
 * One weight row times the four columns of a block per pass. Per group of four depth
 * values: one LDR of four int8 weights (the next group of a "rows4" row is 16 bytes on),
 * SXTB16 and SXTB16 ROR #8 unpack them into the halfword pairs (w0, w2) and (w1, w3); two
 * LDMs bring the four columns' pairs (the block stores each group as x0 x2 x1 x3 to
 * match); eight SMLADs do the sixteen multiply-accumulates. 13 instructions per 16 MACs,
 * written as assembly so that the LDMs load fixed registers in order. Block copies widen
 * four int8 inputs at a time with SXTB16.
 */
#include "ekd_dsp.h"

#if EKD_ARM_DSP

#include "ekd_fixedpoint.h"
#include "ekd_mat_mult_s8.h"
#include "ekd_requantize.h"

/* Position of depth value k of a group inside the group: x0 x2 x1 x3. */
static inline int32_t ekd_group_slot(int32_t k)
{
    return ((k & 1) << 1) | ((k >> 1) & 1);
}

void ekd_nn_block_copy(void *scratch, int32_t column, int32_t k0, const int8_t *src,
                       int32_t count)
{
    int16_t *block = (int16_t *)scratch;
    int32_t k = k0;
    const int32_t end = k0 + count;
    for (; k < end && (k & 3) != 0; ++k) {
        block[16 * (k >> 2) + 4 * column + ekd_group_slot(k)] = *src++;
    }
    for (; k + 4 <= end; k += 4) {
        int16_t *dst = block + 16 * (k >> 2) + 4 * column;
        const int32_t x = ekd_read_s8x4(src);
        ekd_write_s16x2(dst, ekd_sxtb16(x));
        ekd_write_s16x2(dst + 2, ekd_sxtb16_ror8(x));
        src += 4;
    }
    for (; k < end; ++k) {
        block[16 * (k >> 2) + 4 * column + ekd_group_slot(k)] = *src++;
    }
}

void ekd_nn_block_set(void *scratch, int32_t column, int32_t k0, int32_t count,
                      int32_t value)
{
    int16_t *block = (int16_t *)scratch;
    const int32_t pair = (int32_t)(((uint32_t)value & 0xFFFFu) * 0x10001u);
    int32_t k = k0;
    const int32_t end = k0 + count;
    for (; k < end && (k & 3) != 0; ++k) {
        block[16 * (k >> 2) + 4 * column + ekd_group_slot(k)] = (int16_t)value;
    }
    for (; k + 4 <= end; k += 4) {
        int16_t *dst = block + 16 * (k >> 2) + 4 * column;
        ekd_write_s16x2(dst, pair);
        ekd_write_s16x2(dst + 2, pair);
    }
    for (; k < end; ++k) {
        block[16 * (k >> 2) + 4 * column + ekd_group_slot(k)] = (int16_t)value;
    }
}

void ekd_nn_block_repeat(void *scratch, int32_t depth, int32_t column, int32_t from)
{
    int16_t *block = (int16_t *)scratch;
    int32_t g;
    for (g = 0; g < (depth + 3) / 4; ++g) {
        ekd_write_s16x2(block + 16 * g + 4 * column, ekd_read_s16x2(block + 16 * g + 4 * from));
        ekd_write_s16x2(block + 16 * g + 4 * column + 2,
                        ekd_read_s16x2(block + 16 * g + 4 * from + 2));
    }
}

/* Requantize one accumulator (bias included), add the output offset, clamp. With
 * `full_range` (a constant at each call) the clamp is SSAT's saturation to int8. */
static inline int8_t ekd_mm_output(int32_t acc, int32_t multiplier, int32_t right_shift,
                                   int32_t half, int32_t offset, int32_t lo, int32_t hi,
                                   int full_range)
{
    const int32_t v = ekd_requantize_fast(acc, multiplier, right_shift, half) + offset;
    if (full_range) {
        return (int8_t)__ssat(v, 8);
    }
    return (int8_t)ekd_clamp_s32(v, lo, hi);
}

/* The row loop; `full_range` is a constant at each call, so the compiler makes two. */
static inline __attribute__((always_inline)) void
ekd_mm_rows(const int8_t *weights, int32_t rows, int32_t groups, const int16_t *block,
            const int32_t *bias, const int32_t *multipliers, const int32_t *shifts,
            int32_t offset, int32_t lo, int32_t hi, int8_t *const o0, int8_t *const o1,
            int8_t *const o2, int8_t *const o3, int full_range)
{
    int32_t row;
    for (row = 0; row < rows; ++row) {
        /* Row group row / 4, row row % 4 within each 16-byte block of it. */
        const int8_t *wp = weights + (size_t)(row >> 2) * groups * 16 + 4 * (row & 3);
        const int16_t *xp = block;
        /* SMLAD accumulates onto the bias; it wraps like TFLM's int32 sums, and the
         * accumulator bound keeps every sum exact anyway. */
        int32_t a0 = bias[row];
        int32_t a1 = a0, a2 = a0, a3 = a0;
        int32_t w, we;
        int32_t pairs = groups >> 1;
        if (groups & 1) {
            __asm__ volatile(EKD_MAT_MULT_GROUP
                             : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                               [wp] "+r"(wp), [xp] "+r"(xp), [w] "=&r"(w), [we] "=&r"(we)
                             :
                             : "r8", "r9", "r10", "r11", "memory");
        }
        if (pairs > 0) {
            __asm__ volatile("1:\n\t" EKD_MAT_MULT_GROUP EKD_MAT_MULT_GROUP
                             "subs   %[n], %[n], #1\n\t"
                             "bne    1b\n\t"
                             : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                               [wp] "+r"(wp), [xp] "+r"(xp), [w] "=&r"(w), [we] "=&r"(we),
                               [n] "+r"(pairs)
                             :
                             : "r8", "r9", "r10", "r11", "cc", "memory");
        }
        {
            const int32_t m = multipliers[row];
            const int32_t e = ekd_requantize_fast_shift(m, shifts[row]);
            const int32_t h = (int32_t)((uint32_t)1 << (e - 1));
            o0[row] = ekd_mm_output(a0, m, e, h, offset, lo, hi, full_range);
            o1[row] = ekd_mm_output(a1, m, e, h, offset, lo, hi, full_range);
            o2[row] = ekd_mm_output(a2, m, e, h, offset, lo, hi, full_range);
            o3[row] = ekd_mm_output(a3, m, e, h, offset, lo, hi, full_range);
        }
    }
}

void ekd_nn_mat_mult_s8(const int8_t *weights, int32_t rows, const ekd_nn_block *block,
                        const ekd_nn_output_params *params,
                        int8_t *const out[EKD_MAT_MULT_COLUMNS])
{
    /* Locals: the int8 output stores could alias *params as far as the compiler knows. */
    const int32_t groups = (block->depth + 3) / 4;
    const int16_t *columns = (const int16_t *)block->scratch;
    const int32_t offset = params->output_offset;
    const int32_t lo = params->activation_min;
    const int32_t hi = params->activation_max;
    if (lo == -128 && hi == 127) {
        ekd_mm_rows(weights, rows, groups, columns, params->bias, params->quant->multiplier,
                    params->quant->shift, offset, lo, hi, out[0], out[1], out[2], out[3], 1);
    } else {
        ekd_mm_rows(weights, rows, groups, columns, params->bias, params->quant->multiplier,
                    params->quant->shift, offset, lo, hi, out[0], out[1], out[2], out[3], 0);
    }
}

#else
typedef int ekd_mat_mult_s8_dsp_unused; /* ISO C forbids an empty translation unit */
#endif /* EKD_ARM_DSP */
