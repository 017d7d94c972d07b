/*
 * The Winograd core of ekd_winograd_s8.h in portable C99 (Cortex-M0/M3, RISC-V, hosts).
 *
 * Input transform: per channel, the 4x4 tile's rows then columns through BT (4 additions
 * each). Products: for each of the 16 positions, four output channels times the two
 * tiles, 8 accumulators: each weight loaded once for the two tiles, each transformed
 * input once for the four output channels.
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
        int16_t *out = v + 8 * (c >> 2) + 4 * tile + ekd_wino_slot(c & 3);
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
            out[8 * groups * (0 + q)] = (int16_t)(e[0][q] - e[2][q]);
            out[8 * groups * (4 + q)] = (int16_t)(e[1][q] + e[2][q]);
            out[8 * groups * (8 + q)] = (int16_t)(e[2][q] - e[1][q]);
            out[8 * groups * (12 + q)] = (int16_t)(e[1][q] - e[3][q]);
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

/* Channel s of a group: both tiles' inputs, then each output channel's weight. */
#define EKD_WINO_CHANNEL(s)                          \
    do {                                             \
        const int32_t x0 = vp[s], x1 = vp[4 + s];    \
        int32_t w_ = up[s];                          \
        a0 += w_ * x0;                               \
        b0 += w_ * x1;                               \
        w_ = up[4 + s];                              \
        a1 += w_ * x0;                               \
        b1 += w_ * x1;                               \
        w_ = up[8 + s];                              \
        a2 += w_ * x0;                               \
        b2 += w_ * x1;                               \
        w_ = up[12 + s];                             \
        a3 += w_ * x0;                               \
        b3 += w_ * x1;                               \
        EKD_WINO_BARRIER();                          \
    } while (0)

void ekd_nn_winograd_multiply(const int16_t *u, int32_t out_groups, int32_t out_group,
                              int32_t in_groups, const int16_t *v,
                              int32_t m[EKD_WINOGRAD_TILES][4][16])
{
    int32_t position;
    for (position = 0; position < 16; ++position) {
        const int16_t *up = u + ((size_t)position * out_groups + out_group) * in_groups * 16;
        const int16_t *vp = v + (size_t)position * in_groups * 8;
        const int16_t *const end = vp + in_groups * 8;
        /* The offline bound keeps every sum inside int32. */
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        while (vp != end) {
            EKD_WINO_CHANNEL(0);
            EKD_WINO_CHANNEL(1);
            EKD_WINO_CHANNEL(2);
            EKD_WINO_CHANNEL(3);
            up += 16;
            vp += 8;
        }
        m[0][0][position] = a0;
        m[0][1][position] = a1;
        m[0][2][position] = a2;
        m[0][3][position] = a3;
        m[1][0][position] = b0;
        m[1][1][position] = b1;
        m[1][2][position] = b2;
        m[1][3][position] = b3;
    }
}

#else
typedef int ekd_winograd_s8_unused; /* ISO C forbids an empty translation unit */
#endif /* !EKD_ARM_DSP */
