/*
 * ADD, int8, elementwise: the Helium (MVE) variant of ekd_add_s8, four values per step.
 * Same arithmetic as TFLM's reference_integer_ops::AddElementwise, bit for bit (see
 * ekd_mve_fixedpoint.h for why the vector roundings equal gemmlowp's).
 */
#include "edgekd/ekd.h"

#if EKD_HAVE_MVE

#include "ekd_fixedpoint.h"
#include "ekd_mve_fixedpoint.h"
#include "ekd_validate.h"

/* Everything one step needs, loop-invariant. */
typedef struct {
    int32_t scale1, scale2; /* 2^left_shift */
    int32x4_t shifted_offset1, shifted_offset2; /* offset * 2^left_shift */
    int32_t multiplier1, multiplier2, output_multiplier;
    int32x4_t right1, right2, output_right; /* shifts, <= 0 */
    int32_t output_offset, activation_min, activation_max;
} ekd_add_mve_constants;

static inline int32x4_t ekd_add_mve_step(const ekd_add_mve_constants *k, int32x4_t x1,
                                         int32x4_t x2)
{
    /* (x + offset) * 2^left_shift, exact: |x + offset| <= 383 and left_shift <= 22. */
    const int32x4_t shifted1 = vmlaq_n_s32(k->shifted_offset1, x1, k->scale1);
    const int32x4_t shifted2 = vmlaq_n_s32(k->shifted_offset2, x2, k->scale2);
    const int32x4_t scaled1 =
        ekd_mve_rounding_divide_by_pot(vqrdmulhq_n_s32(shifted1, k->multiplier1), k->right1);
    const int32x4_t scaled2 =
        ekd_mve_rounding_divide_by_pot(vqrdmulhq_n_s32(shifted2, k->multiplier2), k->right2);
    const int32x4_t sum = vaddq_s32(scaled1, scaled2); /* wraps, as the portable kernel */
    const int32x4_t out = ekd_mve_rounding_divide_by_pot(
        vqrdmulhq_n_s32(sum, k->output_multiplier), k->output_right);
    return ekd_mve_offset_clamp(out, k->output_offset, k->activation_min, k->activation_max);
}

ekd_status ekd_add_s8_mve(const ekd_add_params *params, int32_t size,
                          const int8_t *input1, const int8_t *input2, int8_t *output)
{
    ekd_add_mve_constants k;
    int32_t i;

    if (params == NULL || input1 == NULL || input2 == NULL || output == NULL || size < 0 ||
        !ekd_add_params_valid(params)) {
        return EKD_ERROR_ARGUMENT;
    }
    k.scale1 = (int32_t)1 << params->left_shift;
    k.scale2 = k.scale1;
    k.shifted_offset1 = vdupq_n_s32(params->input1_offset * k.scale1);
    k.shifted_offset2 = vdupq_n_s32(params->input2_offset * k.scale2);
    k.multiplier1 = params->input1_multiplier;
    k.multiplier2 = params->input2_multiplier;
    k.output_multiplier = params->output_multiplier;
    k.right1 = vdupq_n_s32(params->input1_shift);
    k.right2 = vdupq_n_s32(params->input2_shift);
    k.output_right = vdupq_n_s32(params->output_shift);
    k.output_offset = params->output_offset;
    k.activation_min = params->activation_min;
    k.activation_max = params->activation_max;

    /* Each step reads its four values of both inputs before writing four outputs, so the
     * output may alias either input. */
    for (i = 0; i + 4 <= size; i += 4) {
        const int32x4_t out = ekd_add_mve_step(&k, vldrbq_s32(input1 + i), vldrbq_s32(input2 + i));
        vstrbq_s32(output + i, out);
    }
    if (i < size) {
        const mve_pred16_t tail = vctp32q((uint32_t)(size - i));
        const int32x4_t out = ekd_add_mve_step(&k, vldrbq_z_s32(input1 + i, tail),
                                               vldrbq_z_s32(input2 + i, tail));
        vstrbq_p_s32(output + i, out, tail);
    }
    return EKD_OK;
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int ekd_add_s8_mve_not_built;

#endif /* EKD_HAVE_MVE */
