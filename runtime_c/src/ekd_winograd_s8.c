/*
 * The Winograd core of ekd_winograd_s8.h in portable C99 (Cortex-M0/M3, RISC-V, hosts).
 *
 * Input transform: per channel, the 4x4 tile's rows then columns through BT (4 additions
 * each). Products: for each of the 16 positions, four output channels times the four
 * tiles, 16 accumulators, one load per weight and per input serving four products each
 * (as ekd_mat_mult_s8.c does for the direct convolution).
 */
#include "ekd_dsp.h"

#if !EKD_ARM_DSP

#include <stddef.h>

#include "ekd_winograd_s8.h"

/* Position of channel c of a group inside the group: c0 c2 c1 c3. */
static inline int32_t ekd_wino_slot(int32_t c)
{
    return ((c & 1) << 1) | ((c >> 1) & 1);
}

void ekd_nn_winograd_input(int16_t *v, int32_t tile, const int8_t *image, int32_t in_h,
                           int32_t in_w, int32_t in_c, int32_t y0, int32_t x0,
                           int32_t zero_point)
{
    const int32_t groups = (in_c + 3) / 4;
    const int inside = y0 >= 0 && x0 >= 0 && y0 + 4 <= in_h && x0 + 4 <= in_w;
    int32_t c, r, q;
    for (c = 0; c < in_c; ++c) {
        int32_t d[4][4], e[4][4];
        int16_t *out = v + 16 * (c >> 2) + 4 * tile + ekd_wino_slot(c & 3);
        for (r = 0; r < 4; ++r) {
            for (q = 0; q < 4; ++q) {
                const int32_t y = y0 + r, x = x0 + q;
                d[r][q] = inside || (y >= 0 && y < in_h && x >= 0 && x < in_w)
                              ? image[((size_t)y * in_w + (size_t)x) * in_c + c]
                              : zero_point;
            }
            /* Row r through BT: (d0 - d2, d1 + d2, d2 - d1, d1 - d3). */
            e[r][0] = d[r][0] - d[r][2];
            e[r][1] = d[r][1] + d[r][2];
            e[r][2] = d[r][2] - d[r][1];
            e[r][3] = d[r][1] - d[r][3];
        }
        for (q = 0; q < 4; ++q) {
            out[16 * groups * (0 + q)] = (int16_t)(e[0][q] - e[2][q]);
            out[16 * groups * (4 + q)] = (int16_t)(e[1][q] + e[2][q]);
            out[16 * groups * (8 + q)] = (int16_t)(e[2][q] - e[1][q]);
            out[16 * groups * (12 + q)] = (int16_t)(e[1][q] - e[3][q]);
        }
    }
}

/* Keeps the compiler from interleaving the loads of several channels, which on RISC-V
 * made it spill accumulators (a hint only; nothing depends on it). */
#if defined(__GNUC__)
#define EKD_WINO_BARRIER() __asm__ volatile("" ::: "memory")
#else
#define EKD_WINO_BARRIER() ((void)0)
#endif

/* acc_t += u * x_t for the four tiles of one channel. */
#define EKD_WINO_TILES(a, u)     \
    do {                         \
        const int32_t u_ = (u);  \
        a##0 += u_ * x0;         \
        a##1 += u_ * x1;         \
        a##2 += u_ * x2;         \
        a##3 += u_ * x3;         \
    } while (0)

/* Channel s of a group: the four tiles' inputs, then each output channel's weight. */
#define EKD_WINO_CHANNEL(s)                                                     \
    do {                                                                        \
        const int32_t x0 = vp[s], x1 = vp[4 + s], x2 = vp[8 + s], x3 = vp[12 + s]; \
        EKD_WINO_TILES(a, up[s]);                                               \
        EKD_WINO_BARRIER();                                                     \
        EKD_WINO_TILES(b, up[4 + s]);                                           \
        EKD_WINO_BARRIER();                                                     \
        EKD_WINO_TILES(c, up[8 + s]);                                           \
        EKD_WINO_BARRIER();                                                     \
        EKD_WINO_TILES(d, up[12 + s]);                                          \
        EKD_WINO_BARRIER();                                                     \
    } while (0)

void ekd_nn_winograd_multiply(const int16_t *u, int32_t out_groups, int32_t out_group,
                              int32_t in_groups, const int16_t *v, int32_t *m)
{
    int32_t position;
    for (position = 0; position < 16; ++position) {
        const int16_t *up = u + ((size_t)position * out_groups + out_group) * in_groups * 16;
        const int16_t *vp = v + (size_t)position * in_groups * 16;
        const int16_t *const end = vp + in_groups * 16;
        /* The offline bound keeps every sum inside int32. */
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0;
        while (vp != end) {
            EKD_WINO_CHANNEL(0);
            EKD_WINO_CHANNEL(1);
            EKD_WINO_CHANNEL(2);
            EKD_WINO_CHANNEL(3);
            up += 16;
            vp += 16;
        }
        m[0 * 64 + 4 * position + 0] = a0;
        m[0 * 64 + 4 * position + 1] = a1;
        m[0 * 64 + 4 * position + 2] = a2;
        m[0 * 64 + 4 * position + 3] = a3;
        m[1 * 64 + 4 * position + 0] = b0;
        m[1 * 64 + 4 * position + 1] = b1;
        m[1 * 64 + 4 * position + 2] = b2;
        m[1 * 64 + 4 * position + 3] = b3;
        m[2 * 64 + 4 * position + 0] = c0;
        m[2 * 64 + 4 * position + 1] = c1;
        m[2 * 64 + 4 * position + 2] = c2;
        m[2 * 64 + 4 * position + 3] = c3;
        m[3 * 64 + 4 * position + 0] = d0;
        m[3 * 64 + 4 * position + 1] = d1;
        m[3 * 64 + 4 * position + 2] = d2;
        m[3 * 64 + 4 * position + 3] = d3;
    }
}

#else
typedef int ekd_winograd_s8_unused; /* ISO C forbids an empty translation unit */
#endif /* !EKD_ARM_DSP */
