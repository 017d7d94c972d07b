/*
 * The geometry of the reductions and the broadcasting binary ops (internal): the loops over
 * their ekd_reduce_shape / ekd_broadcast_shape, the argument checks, and the loops the
 * MINIMUM/MAXIMUM and ARG_MAX/ARG_MIN pairs share. Offline merging of adjacent dims
 * leaves at most four of each kind, outermost first; dims of 1 cost one pass.
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

/* A broadcasting binary op's geometry and buffers are usable. */
static inline int ekd_broadcast_valid(const ekd_broadcast_shape *s, const int8_t *input1,
                               const int8_t *input2, const int8_t *output)
{
    return s != NULL && input1 != NULL && input2 != NULL && output != NULL &&
           ekd_dims4_valid(s->dims, s->stride1, s->stride2);
}

/* A reduction's geometry is usable. */
static inline int ekd_reduce_shape_valid(const ekd_reduce_shape *s)
{
    return s != NULL && ekd_dims4_valid(s->kept, s->kept_stride, s->kept_stride) &&
           ekd_dims4_valid(s->reduced, s->reduced_stride, s->reduced_stride);
}

/* MINIMUM and MAXIMUM (TFLM's MaximumMinimumBroadcastSlow compares codes): */
/* The smaller code (`sign` -1) or the larger (`sign` 1) of each pair. */
static inline ekd_status ekd_extreme_s8(const ekd_broadcast_shape *shape, const int8_t *input1,
                                 const int8_t *input2, int8_t *output, int32_t sign)
{
    size_t out = 0;

    if (!ekd_broadcast_valid(shape, input1, input2, output)) {
        return EKD_ERROR_ARGUMENT;
    }
    EKD_FOR_EACH_4D(shape->dims, shape->stride1, at1, shape->stride2, at2, {
        const int8_t a = input1[at1];
        const int8_t b = input2[at2];
        output[out++] = sign * a > sign * b ? a : b;
    });
    return EKD_OK;
}

/* ARG_MAX and ARG_MIN (TFLM's ArgMinMax keeps the first extreme index): */
/* The first index along reduced[3] of the largest value (`sign` 1) or the smallest
 * (`sign` -1: the largest negated). */
static inline ekd_status ekd_arg_extreme_s8(const ekd_reduce_shape *shape, const int8_t *input,
                                     int32_t *output, int32_t sign)
{
    size_t out = 0;

    if (input == NULL || output == NULL || !ekd_reduce_shape_valid(shape) ||
        shape->reduced[0] != 1 || shape->reduced[1] != 1 || shape->reduced[2] != 1) {
        return EKD_ERROR_ARGUMENT;
    }
    EKD_FOR_EACH_4D(shape->kept, shape->kept_stride, base, shape->kept_stride, unused, {
        const int8_t *x = input + base;
        int32_t best = sign * x[0];
        int32_t best_index = 0;
        int32_t i;
        (void)unused;
        for (i = 1; i < shape->reduced[3]; ++i) {
            const int32_t value = sign * x[(size_t)i * shape->reduced_stride[3]];
            if (value > best) {
                best = value;
                best_index = i;
            }
        }
        output[out++] = best_index;
    });
    return EKD_OK;
}

#endif /* EDGEKD_EKD_SHAPE_LOOPS_H */
