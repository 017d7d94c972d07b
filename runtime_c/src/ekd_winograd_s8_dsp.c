/*
 * The Winograd core of ekd_winograd_s8.h for Arm cores with the DSP extension.
 *
 * Input transform: four channels at a time, as two halfword pairs (SXTB16 of one LDR gives
 * channels 0 and 2, SXTB16 ROR #8 channels 1 and 3, which is the group order of V), each
 * addition of BT done for two channels by one SADD16/SSUB16 (|V| <= 512 stays in int16).
 * Products: a tile and four output channels per pass over the input channels; per group
 * of four input channels one LDRD of the tile's four transformed inputs, two LDMs of the
 * four output channels' weight pairs, eight SMLADs: 11 instructions for 16 products, in
 * assembly so that the LDMs load fixed registers in order.
 */
#include "ekd_dsp.h"

#if EKD_ARM_DSP

#include <stddef.h>

#include "ekd_winograd_s8.h"

static inline int32_t ekd_wino_slot(int32_t c)
{
    return ((c & 1) << 1) | ((c >> 1) & 1);
}

/* One channel, plain: the partial last group of a layer whose in_c is not a multiple of 4. */
static void ekd_wino_input_channel(int16_t *v, int32_t groups, int32_t tile,
                                   const int8_t *image, int32_t in_h, int32_t in_w,
                                   int32_t in_c, int32_t c, int32_t y0, int32_t x0,
                                   int32_t zero_point)
{
    int16_t *out = v + 8 * (c >> 2) + 4 * tile + ekd_wino_slot(c & 3);
    int32_t e[4][4];
    int32_t r, q;
    for (r = 0; r < 4; ++r) {
        int32_t d[4];
        for (q = 0; q < 4; ++q) {
            const int32_t y = y0 + r, x = x0 + q;
            d[q] = y >= 0 && y < in_h && x >= 0 && x < in_w
                       ? image[((size_t)y * in_w + (size_t)x) * in_c + c]
                       : zero_point;
        }
        e[r][0] = d[0] - d[2];
        e[r][1] = d[1] + d[2];
        e[r][2] = d[2] - d[1];
        e[r][3] = d[1] - d[3];
    }
    for (q = 0; q < 4; ++q) {
        out[8 * groups * (0 + q)] = (int16_t)(e[0][q] - e[2][q]);
        out[8 * groups * (4 + q)] = (int16_t)(e[1][q] + e[2][q]);
        out[8 * groups * (8 + q)] = (int16_t)(e[2][q] - e[1][q]);
        out[8 * groups * (12 + q)] = (int16_t)(e[1][q] - e[3][q]);
    }
}

void ekd_nn_winograd_input(int16_t *v, int32_t tile, const int8_t *image, int32_t in_h,
                           int32_t in_w, int32_t in_c, int32_t y0, int32_t x0,
                           int32_t zero_point)
{
    const int32_t groups = (in_c + 3) / 4;
    const int32_t pad = (int32_t)(((uint32_t)zero_point & 0xFFFFu) * 0x10001u);
    const int32_t whole = in_c >> 2; /* groups of four channels read a word at a time */
    int32_t g, r, q, c;
    for (g = 0; g < whole; ++g) {
        /* e[r][j][0]: channels 0 and 2 of row r through BT; [1]: channels 1 and 3. */
        int32_t e[4][4][2];
        int16_t *out = v + 8 * g + 4 * tile;
        for (r = 0; r < 4; ++r) {
            const int32_t y = y0 + r;
            int32_t d[4][2];
            for (q = 0; q < 4; ++q) {
                const int32_t x = x0 + q;
                if (y >= 0 && y < in_h && x >= 0 && x < in_w) {
                    const int32_t w = ekd_read_s8x4(
                        image + ((size_t)y * in_w + (size_t)x) * in_c + 4 * g);
                    d[q][0] = ekd_sxtb16(w);
                    d[q][1] = ekd_sxtb16_ror8(w);
                } else {
                    d[q][0] = pad;
                    d[q][1] = pad;
                }
            }
            for (c = 0; c < 2; ++c) {
                e[r][0][c] = __ssub16(d[0][c], d[2][c]);
                e[r][1][c] = __sadd16(d[1][c], d[2][c]);
                e[r][2][c] = __ssub16(d[2][c], d[1][c]);
                e[r][3][c] = __ssub16(d[1][c], d[3][c]);
            }
        }
        for (q = 0; q < 4; ++q) {
            for (c = 0; c < 2; ++c) {
                ekd_write_s16x2(out + 8 * groups * (0 + q) + 2 * c,
                                __ssub16(e[0][q][c], e[2][q][c]));
                ekd_write_s16x2(out + 8 * groups * (4 + q) + 2 * c,
                                __sadd16(e[1][q][c], e[2][q][c]));
                ekd_write_s16x2(out + 8 * groups * (8 + q) + 2 * c,
                                __ssub16(e[2][q][c], e[1][q][c]));
                ekd_write_s16x2(out + 8 * groups * (12 + q) + 2 * c,
                                __ssub16(e[1][q][c], e[3][q][c]));
            }
        }
    }
    for (c = 4 * whole; c < in_c; ++c) {
        ekd_wino_input_channel(v, groups, tile, image, in_h, in_w, in_c, c, y0, x0,
                               zero_point);
    }
}

/* One group of four input channels for four output channels: vp advances 16 bytes (the
 * tile's four transformed inputs, then the other tile's), up 32 bytes (the four output
 * channels' four weights).
 * r8-r11 hold the weight pairs of two output channels at a time. */
#define EKD_WINO_GROUP                               \
    "ldrd   %[v02], %[v13], [%[vp]], #16\n\t"        \
    "ldm    %[up]!, {r8, r9, r10, r11}\n\t"          \
    "smlad  %[a0], %[v02], r8, %[a0]\n\t"            \
    "smlad  %[a0], %[v13], r9, %[a0]\n\t"            \
    "smlad  %[a1], %[v02], r10, %[a1]\n\t"           \
    "smlad  %[a1], %[v13], r11, %[a1]\n\t"           \
    "ldm    %[up]!, {r8, r9, r10, r11}\n\t"          \
    "smlad  %[a2], %[v02], r8, %[a2]\n\t"            \
    "smlad  %[a2], %[v13], r9, %[a2]\n\t"            \
    "smlad  %[a3], %[v02], r10, %[a3]\n\t"           \
    "smlad  %[a3], %[v13], r11, %[a3]\n\t"

void ekd_nn_winograd_multiply(const int16_t *u, int32_t out_groups, int32_t out_group,
                              int32_t in_groups, const int16_t *v,
                              int32_t m[EKD_WINOGRAD_TILES][4][16])
{
    int32_t tile, position;
    for (tile = 0; tile < EKD_WINOGRAD_TILES; ++tile) {
        for (position = 0; position < 16; ++position) {
            const int16_t *up =
                u + ((size_t)position * out_groups + out_group) * in_groups * 16;
            const int16_t *vp = v + (size_t)position * in_groups * 8 + 4 * tile;
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            int32_t n = in_groups, v02, v13;
            __asm__ volatile("1:\n\t" EKD_WINO_GROUP
                             "subs   %[n], %[n], #1\n\t"
                             "bne    1b\n\t"
                             : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                               [up] "+r"(up), [vp] "+r"(vp), [v02] "=&r"(v02),
                               [v13] "=&r"(v13), [n] "+r"(n)
                             :
                             : "r8", "r9", "r10", "r11", "cc", "memory");
            m[tile][0][position] = a0;
            m[tile][1][position] = a1;
            m[tile][2][position] = a2;
            m[tile][3][position] = a3;
        }
    }
}

#else
typedef int ekd_winograd_s8_dsp_unused; /* ISO C forbids an empty translation unit */
#endif /* EKD_ARM_DSP */
