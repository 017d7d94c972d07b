/*
 * Which instruction-set path the optimized kernels compile (internal).
 *
 * EKD_ARM_DSP is EKD_HAVE_DSP (edgekd/ekd.h): 1 on Arm cores with the DSP extension
 * (Cortex-M4, M7, M33, M55...: __ARM_FEATURE_DSP), where the kernels use SXTB16/SXTAB16
 * and SMLAD (two 16-bit multiply-accumulates per instruction) and SMMLAR; 0 elsewhere
 * (Cortex-M0/M3, RISC-V, the host), where they compile to portable C99. Define EKD_NO_DSP
 * to force the portable path on a DSP core. Every variant computes identical bytes.
 *
 * The helpers below wrap single instructions; ACLE's <arm_acle.h> (GCC 12) has no SXTB16
 * or SXTAB16 with a rotation and no SMMLAR, so those are inline assembly.
 */
#ifndef EDGEKD_EKD_DSP_H
#define EDGEKD_EKD_DSP_H

#include <stdint.h>

#include "edgekd/ekd.h"

#define EKD_ARM_DSP EKD_HAVE_DSP

/* EKD_ARMV6M is 1 on Armv6-M (Cortex-M0, M0+, M1: Thumb-1, eight low registers for most
 * instructions, MULS without accumulate, no unaligned loads), where some portable kernels
 * have loops of their own (*_v6m.c) beside the ones tuned for the Cortex-M3 and RISC-V. */
#if defined(__ARM_ARCH_6M__) && !EKD_ARM_DSP
#define EKD_ARMV6M 1
#else
#define EKD_ARMV6M 0
#endif

#if EKD_ARM_DSP
#include <arm_acle.h>

/* Bytes 0 and 2 of x, sign-extended to the two halfwords, each plus a's halfword. */
static inline int32_t ekd_sxtab16(int32_t a, int32_t x)
{
    return __sxtab16(a, x);
}

/* Bytes 1 and 3 of x, sign-extended to the two halfwords, each plus a's halfword. */
static inline int32_t ekd_sxtab16_ror8(int32_t a, int32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

/* Bytes 0 and 2 of x, sign-extended to the two halfwords. */
static inline int32_t ekd_sxtb16(int32_t x)
{
    return __sxtb16(x);
}

/* Bytes 1 and 3 of x, sign-extended to the two halfwords. */
static inline int32_t ekd_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* acc + (a * b) / 2^32 rounded: (acc * 2^32 + a * b + 2^31) >> 32. */
static inline int32_t ekd_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* Four values of an int8 array (any alignment; Armv7-M loads words unaligned). */
static inline int32_t ekd_read_s8x4(const int8_t *p)
{
    int32_t v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

/* Two values of an int16 array (any alignment). */
static inline int32_t ekd_read_s16x2(const int16_t *p)
{
    int32_t v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

static inline void ekd_write_s16x2(int16_t *p, int32_t v)
{
    __builtin_memcpy(p, &v, sizeof v);
}
#endif /* EKD_ARM_DSP */

#endif /* EDGEKD_EKD_DSP_H */
