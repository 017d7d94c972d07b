/*
 * The loops of the reductions and the broadcasting binary ops over their geometry
 * structs (internal). Offline merging of adjacent dims leaves at most four of each kind,
 * outermost first; dims of 1 cost one pass.
 */
#ifndef EDGEKD_EKD_SHAPE_LOOPS_H
#define EDGEKD_EKD_SHAPE_LOOPS_H

#include "edgekd/ekd.h"

/* Every dim >= 1 and every stride >= 0. */
static inline int ekd_dims4_valid(const int32_t *dims, const int32_t *stride_a,
                                  const int32_t *stride_b)
{
    int32_t d;
    for (d = 0; d < 4; ++d) {
        if (dims[d] < 1 || stride_a[d] < 0 || stride_b[d] < 0) {
            return 0;
        }
    }
    return 1;
}

/* Runs the body (the variadic argument) for every index (i0, i1, i2) of the three outer
 * dims of DIMS, with ROW_A and ROW_B the element offsets of the row's start along
 * STRIDE_A and STRIDE_B (size_t); the body walks DIMS[3] itself. */
#define EKD_FOR_EACH_ROW(DIMS, STRIDE_A, ROW_A, STRIDE_B, ROW_B, ...)                      \
    do {                                                                                   \
        int32_t ekd_i0, ekd_i1, ekd_i2;                                                    \
        for (ekd_i0 = 0; ekd_i0 < (DIMS)[0]; ++ekd_i0) {                                   \
            for (ekd_i1 = 0; ekd_i1 < (DIMS)[1]; ++ekd_i1) {                               \
                for (ekd_i2 = 0; ekd_i2 < (DIMS)[2]; ++ekd_i2) {                           \
                    const size_t ROW_A = (size_t)ekd_i0 * (STRIDE_A)[0] +                  \
                                         (size_t)ekd_i1 * (STRIDE_A)[1] +                  \
                                         (size_t)ekd_i2 * (STRIDE_A)[2];                   \
                    const size_t ROW_B = (size_t)ekd_i0 * (STRIDE_B)[0] +                  \
                                         (size_t)ekd_i1 * (STRIDE_B)[1] +                  \
                                         (size_t)ekd_i2 * (STRIDE_B)[2];                   \
                    __VA_ARGS__                                                            \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    } while (0)

/* Runs the body for every index of DIMS with OFFSET_A and OFFSET_B the element offsets
 * along STRIDE_A and STRIDE_B (size_t). */
#define EKD_FOR_EACH_4D(DIMS, STRIDE_A, OFFSET_A, STRIDE_B, OFFSET_B, ...)                 \
    EKD_FOR_EACH_ROW(DIMS, STRIDE_A, ekd_row_a, STRIDE_B, ekd_row_b, {                     \
        int32_t ekd_i3;                                                                    \
        for (ekd_i3 = 0; ekd_i3 < (DIMS)[3]; ++ekd_i3) {                                   \
            const size_t OFFSET_A = ekd_row_a + (size_t)ekd_i3 * (STRIDE_A)[3];            \
            const size_t OFFSET_B = ekd_row_b + (size_t)ekd_i3 * (STRIDE_B)[3];            \
            __VA_ARGS__                                                                    \
        }                                                                                  \
    })

#endif /* EDGEKD_EKD_SHAPE_LOOPS_H */
