/*
 * The matrix kernel of ekd_mat_mult_s8.h for Armv6-M (Cortex-M0, M0+, M1).
 *
 * Thumb-1 has no multiply-accumulate, eight low registers for most instructions, and
 * sign-extending loads (LDRSB, LDRSH) only with a register offset; the portable file's
 * two rows by four columns spill there. This one runs one weight row times the block's
 * four columns per pass, written as assembly: per depth value, LDRB + SXTB bring the
 * weight, and per column LDRH (immediate offset) + MULS + ADD do the multiply-accumulate
 * into r8-r11, which only ADD touches. 64 instructions per 16 MACs, and 4 per two
 * groups for the pointers and the branch.
 *
 * LDRH has no sign extension, so the block holds each input plus 128 (0..255) in the
 * portable layout (group g: column j's four values at 16 g + 4 j); the pass also sums
 * the row's weights, and 128 times that sum comes off each accumulator. The sums stay
 * exact: depth <= EKD_MAT_MULT_MAX_DEPTH products of at most 128 * 255.
 *
 * Requantization: ekd_requantize_v6m.h (no 64-bit product). Where the clamp's lower
 * bound is at or above the output offset (ReLU), an accumulator <= 0 gives that bound
 * without it: the requantized value of a non-positive accumulator is <= 0.
 */
#include "ekd_dsp.h"

#if EKD_ARMV6M

#include "ekd_fixedpoint.h"
#include "ekd_mat_mult_s8.h"
#include "ekd_requantize.h"
#include "ekd_requantize_v6m.h"

/* The assembly is in unified syntax, which GCC assumes for Thumb-1 only when built with
 * -masm-syntax-unified; it restores its own after each asm statement. */
#define EKD_V6M_UNIFIED ".syntax unified\n\t"

/* What the block holds for input value x. */
#define EKD_MM_BIAS 128

void ekd_nn_block_copy(void *scratch, int32_t column, int32_t k0, const int8_t *src,
                       int32_t count)
{
    /* Value k of the column: halfword 16 (k / 4) + 4 column + k % 4, i.e. dst[k % 4] with
     * dst stepping 16 halfwords per group. im2col copies many short runs (a filter row
     * of a one-channel input is a few values), so the call is kept short. */
    uint16_t *dst = (uint16_t *)scratch + 4 * (k0 & ~3) + 4 * column;
    int32_t i = k0 & 3;
    const int8_t *const end = src + count;
    if (i != 0) {
        for (; i < 4 && src != end; ++i) {
            dst[i] = (uint16_t)(*src++ + EKD_MM_BIAS);
        }
        dst += 16;
    }
    for (; end - src >= 4; src += 4, dst += 16) {
        dst[0] = (uint16_t)(src[0] + EKD_MM_BIAS);
        dst[1] = (uint16_t)(src[1] + EKD_MM_BIAS);
        dst[2] = (uint16_t)(src[2] + EKD_MM_BIAS);
        dst[3] = (uint16_t)(src[3] + EKD_MM_BIAS);
    }
    for (i = 0; src != end; ++i) {
        dst[i] = (uint16_t)(*src++ + EKD_MM_BIAS);
    }
}

void ekd_nn_block_set(void *scratch, int32_t column, int32_t k0, int32_t count,
                      int32_t value)
{
    uint16_t *block = (uint16_t *)scratch;
    const uint16_t stored = (uint16_t)(value + EKD_MM_BIAS);
    int32_t k;
    for (k = k0; k < k0 + count; ++k) {
        block[16 * (k >> 2) + 4 * column + (k & 3)] = stored;
    }
}

void ekd_nn_block_repeat(void *scratch, int32_t depth, int32_t column, int32_t from)
{
    uint16_t *block = (uint16_t *)scratch;
    int32_t g, i;
    for (g = 0; g < (depth + 3) / 4; ++g) {
        for (i = 0; i < 4; ++i) {
            block[16 * g + 4 * column + i] = block[16 * g + 4 * from + i];
        }
    }
}

/* Depth value k of a group: the weight (byte k of the row's four), then the four
 * columns' inputs (halfword k of each column's four). r12 sums the weights. */
#define EKD_MM_VALUE(k, x0, x1, x2, x3)         \
    "ldrb   %[w], [%[wp], #" #k "]\n\t"         \
    "sxtb   %[w], %[w]\n\t"                     \
    "add    r12, %[w]\n\t"                      \
    "ldrh   %[t], [%[xp], #" #x0 "]\n\t"        \
    "muls   %[t], %[w], %[t]\n\t"               \
    "add    r8, %[t]\n\t"                       \
    "ldrh   %[t], [%[xp], #" #x1 "]\n\t"        \
    "muls   %[t], %[w], %[t]\n\t"               \
    "add    r9, %[t]\n\t"                       \
    "ldrh   %[t], [%[xp], #" #x2 "]\n\t"        \
    "muls   %[t], %[w], %[t]\n\t"               \
    "add    r10, %[t]\n\t"                      \
    "ldrh   %[t], [%[xp], #" #x3 "]\n\t"        \
    "muls   %[t], %[w], %[t]\n\t"               \
    "add    r11, %[t]\n\t"

/* One output of a row: requantize the accumulator (bias included), add the output
 * offset, clamp. Under a ReLU clamp (lo at or above the offset) a sum <= 0 gives lo
 * without a requantization: the requantized value of a non-positive sum is <= 0.
 * Inlined (a call costs about a third of the short path). */
static inline __attribute__((always_inline)) int8_t
ekd_mm_output(int32_t acc, const ekd_requant_v6m *r, int32_t offset, int32_t lo, int32_t hi,
              int relu)
{
    int32_t v;
    if (relu && acc <= 0) {
        return (int8_t)lo;
    }
    if (relu) {
        /* acc > 0: the short path's bound is acc < 2^15, and its sign term is 0. */
        if ((uint32_t)acc < r->short_limit_positive) {
            v = ekd_requantize_v6m_short_positive(acc, r->m_lo, r->m_hi, r->short_round,
                                                  r->short_shift);
        } else {
            v = ekd_requantize_v6m_long(acc, r->multiplier, r->shift);
        }
    } else if ((uint32_t)acc + (uint32_t)EKD_REQUANT_V6M_SHORT_ACC < r->short_limit) {
        v = ekd_requantize_v6m_short(acc, r->m_lo, r->m_hi, r->short_round, r->short_shift);
    } else {
        v = ekd_requantize_v6m_long(acc, r->multiplier, r->shift);
    }
    return (int8_t)ekd_clamp_s32(v + offset, lo, hi);
}

/* The rows of ekd_nn_mat_mult_s8, compiled once with relu = 1 and once with relu = 0 so
 * that neither tests it per output. */
static inline __attribute__((always_inline)) void
ekd_mm_rows(const int8_t *weights, int32_t rows, const ekd_nn_block *block,
            const ekd_nn_output_params *params, int8_t *const out[EKD_MAT_MULT_COLUMNS],
            int relu)
{
    const int32_t groups = (block->depth + 3) / 4;
    const uint16_t *const columns = (const uint16_t *)block->scratch;
    const uint16_t *const end = columns + 16 * groups;
    const int32_t *const bias = params->bias;
    const int32_t *const multiplier = params->quant->multiplier;
    const int32_t *const shift = params->quant->shift;
    const int32_t offset = params->output_offset;
    const int32_t lo = params->activation_min, hi = params->activation_max;
    int8_t *const o0 = out[0], *const o1 = out[1], *const o2 = out[2], *const o3 = out[3];
    /* Row `row` starts at row group row / 4, row row % 4 within each 16-byte block. */
    const int8_t *row_weights = weights;
    int32_t row;

    for (row = 0; row < rows; ++row) {
        /* Addresses in, two of the sums out. */
        uintptr_t wp = (uintptr_t)row_weights;
        uintptr_t xp = (uintptr_t)columns;
        /* In: the row's bias; out: the bias less the inputs' +128 (the code generator
         * bounds the final sums, so the wrapping arithmetic of the asm is exact). */
        int32_t correction = bias[row];
        int32_t w, t, v0, v1, v2, v3;
        ekd_requant_v6m r;
        /* Two groups per pass (the pointer steps and the branch cost 4 per pass); an
         * odd group count enters at the second half with both pointers one group back
         * (bit 5 of end - xp = 32 * groups, shifted into the sign). At the end the sums
         * leave through the low registers the loop is done with. */
        __asm__ volatile(EKD_V6M_UNIFIED "movs   %[t], #0\n\t"
                         "mov    r8, %[t]\n\t"
                         "mov    r9, %[t]\n\t"
                         "mov    r10, %[t]\n\t"
                         "mov    r11, %[t]\n\t"
                         "mov    r12, %[t]\n\t"
                         "subs   %[t], %[end], %[xp]\n\t"
                         "lsls   %[t], %[t], #26\n\t"
                         "bpl    1f\n\t"
                         "subs   %[wp], #16\n\t"
                         "subs   %[xp], #32\n\t"
                         "b      2f\n"
                         "1:\n\t"
                         EKD_MM_VALUE(0, 0, 8, 16, 24)
                         EKD_MM_VALUE(1, 2, 10, 18, 26)
                         EKD_MM_VALUE(2, 4, 12, 20, 28)
                         EKD_MM_VALUE(3, 6, 14, 22, 30)
                         "2:\n\t"
                         EKD_MM_VALUE(16, 32, 40, 48, 56)
                         EKD_MM_VALUE(17, 34, 42, 50, 58)
                         EKD_MM_VALUE(18, 36, 44, 52, 60)
                         EKD_MM_VALUE(19, 38, 46, 54, 62)
                         "adds   %[wp], #32\n\t"
                         "adds   %[xp], #64\n\t"
                         "cmp    %[xp], %[end]\n\t"
                         "bne    1b\n\t"
                         "mov    %[t], r12\n\t"
                         "lsls   %[t], %[t], #7\n\t"
                         "subs   %[c], %[c], %[t]\n\t"
                         "mov    %[w], r8\n\t"
                         "adds   %[w], %[w], %[c]\n\t"
                         "mov    %[t], r9\n\t"
                         "adds   %[t], %[t], %[c]\n\t"
                         "mov    %[wp], r10\n\t"
                         "adds   %[wp], %[wp], %[c]\n\t"
                         "mov    %[xp], r11\n\t"
                         "adds   %[xp], %[xp], %[c]\n\t"
                         : [wp] "+l"(wp), [xp] "+l"(xp), [w] "=&l"(w), [t] "=&l"(t),
                           [c] "+l"(correction)
                         : [end] "l"(end)
                         : "r8", "r9", "r10", "r11", "r12", "cc", "memory");
        v0 = w;
        v1 = t;
        v2 = ekd_s32_from_bits((uint32_t)wp);
        v3 = ekd_s32_from_bits((uint32_t)xp);
        /* Under ReLU about half the outputs are <= 0; a row whose four all are needs no
         * multiplier (v <= 0 iff v - 1 < 0: |v| < 2^30). */
        if (relu && ((v0 - 1) & (v1 - 1) & (v2 - 1) & (v3 - 1)) < 0) {
            o0[row] = (int8_t)lo;
            o1[row] = (int8_t)lo;
            o2[row] = (int8_t)lo;
            o3[row] = (int8_t)lo;
        } else {
            r = ekd_requant_v6m_make(multiplier[row], shift[row]);
            o0[row] = ekd_mm_output(v0, &r, offset, lo, hi, relu);
            o1[row] = ekd_mm_output(v1, &r, offset, lo, hi, relu);
            o2[row] = ekd_mm_output(v2, &r, offset, lo, hi, relu);
            o3[row] = ekd_mm_output(v3, &r, offset, lo, hi, relu);
        }
        row_weights += (row & 3) == 3 ? 16 * groups - 12 : 4;
    }
}

void ekd_nn_mat_mult_s8(const int8_t *weights, int32_t rows, const ekd_nn_block *block,
                        const ekd_nn_output_params *params,
                        int8_t *const out[EKD_MAT_MULT_COLUMNS])
{
    if (params->output_offset <= params->activation_min) {
        ekd_mm_rows(weights, rows, block, params, out, 1);
    } else {
        ekd_mm_rows(weights, rows, block, params, out, 0);
    }
}

#else
typedef int ekd_mat_mult_s8_v6m_unused; /* ISO C forbids an empty translation unit */
#endif /* EKD_ARMV6M */
