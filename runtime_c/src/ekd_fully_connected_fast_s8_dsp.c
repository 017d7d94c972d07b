/*
 * ekd_nn_vec_mat_s8 (ekd_fully_connected_fast.h) for Arm cores with the DSP extension.
 *
 * Per group of four inputs: one LDR and two SXTB16 unpack them into the halfword pairs
 * (x0, x2) and (x1, x3), two LDMs load the four rows' words of weights (a "rows4" block
 * holds them one after another), and per row two SXTB16 and two SMLAD: 21 instructions
 * (24 with the loop) per 16 multiply-accumulates, the inputs read once per four rows.
 * The loop is assembly: GCC spilled the accumulators of the C version.
 */
#include "ekd_dsp.h"

#if EKD_ARM_DSP

#include "ekd_fully_connected_fast.h"

/* acc + w . x for one row: the row's word of four weights against the unpacked inputs. */
static inline int32_t ekd_fc_dot4(int32_t acc, int32_t w, int32_t x_even, int32_t x_odd)
{
    acc = __smlad(ekd_sxtb16(w), x_even, acc);
    return __smlad(ekd_sxtb16_ror8(w), x_odd, acc);
}

/* One group of four inputs (the word x) into the four rows' accumulators, in C: a
 * row's last, partial group. */
#define EKD_FC_GROUP(x, wp)                                                   \
    do {                                                                      \
        const int32_t xe_ = ekd_sxtb16(x), xo_ = ekd_sxtb16_ror8(x);          \
        a0 = ekd_fc_dot4(a0, ekd_read_s8x4((wp)), xe_, xo_);                  \
        a1 = ekd_fc_dot4(a1, ekd_read_s8x4((wp) + 4), xe_, xo_);              \
        a2 = ekd_fc_dot4(a2, ekd_read_s8x4((wp) + 8), xe_, xo_);              \
        a3 = ekd_fc_dot4(a3, ekd_read_s8x4((wp) + 12), xe_, xo_);             \
    } while (0)

/* One row of a group in assembly: its word of weights (in `w`) unpacked into lr, two
 * SMLADs with the inputs' pairs. */
#define EKD_FC_ROW_ASM(acc, w)                                                \
    "sxtb16  lr, " w "\n\t"                                                   \
    "smlad   %[" acc "], lr, %[xe], %[" acc "]\n\t"                            \
    "sxtb16  lr, " w ", ror #8\n\t"                                           \
    "smlad   %[" acc "], lr, %[xo], %[" acc "]\n\t"

/* One whole group: LDR of four inputs, two LDMs of two rows' words each (two fixed
 * registers: clang finds too few for four at -O2 with its frame pointer), 21
 * instructions per 16 multiply-accumulates. */
#define EKD_FC_GROUP_ASM                                                      \
    "ldr     %[xe], [%[xp]], #4\n\t"                                          \
    "ldm     %[wp]!, {r8, r9}\n\t"                                            \
    "sxtb16  %[xo], %[xe], ror #8\n\t"                                        \
    "sxtb16  %[xe], %[xe]\n\t"                                                \
    EKD_FC_ROW_ASM("a0", "r8") EKD_FC_ROW_ASM("a1", "r9")                     \
    "ldm     %[wp]!, {r8, r9}\n\t"                                            \
    EKD_FC_ROW_ASM("a2", "r8") EKD_FC_ROW_ASM("a3", "r9")

void ekd_nn_vec_mat_s8(const int8_t *x, int32_t depth, const int8_t *weights, int32_t rows,
                       const ekd_nn_output_params *params, int8_t *out)
{
    const int32_t full = depth / 4, rest = depth - 4 * full;
    const int8_t *wp = weights;
    const int32_t *bias = params->bias;
    int32_t r;
    for (r = 0; r < rows; r += 4) {
        int32_t a0 = bias[r];
        int32_t a1 = r + 1 < rows ? bias[r + 1] : 0;
        int32_t a2 = r + 2 < rows ? bias[r + 2] : 0;
        int32_t a3 = r + 3 < rows ? bias[r + 3] : 0;
        const int8_t *xp = x;
        if (full > 0) {
            /* The loop ends when xp reaches `end`, read from memory into xe (free by
             * then): the operands fit the registers GCC has at -O0 too. */
            const int8_t *const end = x + 4 * full;
            int32_t xe, xo;
            __asm__ volatile("1:\n\t" EKD_FC_GROUP_ASM
                             "ldr     %[xe], %[end]\n\t"
                             "cmp     %[xp], %[xe]\n\t"
                             "bne     1b\n\t"
                             : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                               [xp] "+r"(xp), [wp] "+r"(wp), [xe] "=&r"(xe), [xo] "=&r"(xo)
                             : [end] "m"(end)
                             : "r8", "r9", "lr", "cc", "memory");
        }
        if (rest) {
            const int32_t x0 = (int32_t)ekd_fc_tail_word(xp, rest);
            EKD_FC_GROUP(x0, wp);
            wp += 16;
        }
        {
            const int32_t acc[4] = {a0, a1, a2, a3};
            ekd_fc_store4(params, r, rows, acc, out);
        }
    }
}

#else
typedef int ekd_fully_connected_fast_s8_dsp_unused; /* ISO C: no empty translation unit */
#endif /* EKD_ARM_DSP */
