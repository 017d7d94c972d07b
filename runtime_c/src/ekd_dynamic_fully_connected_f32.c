/*
 * DYNAMIC_FULLY_CONNECTED: float32 input and output, int8 weights with one float32 scale
 * per output channel, float32 bias ("hybrid" / dynamic-range quantization, for cores
 * with an FPU).
 * As TFLite's hybrid FULLY_CONNECTED with asymmetric_quantize_inputs: each input row is
 * quantized to int8 from its own range (PortableAsymmetricQuantizeFloats), multiplied with
 * the weights in int32 and scaled back to float (PortableMatrixBatchVectorMultiplyAccumulate
 * with per-channel scales). Every float operation, its precision and its order are those
 * of edgekd/reference/dynamic_fully_connected.py, which documents them step by step.
 */
#include <float.h>

#include "edgekd/ekd.h"
#include "ekd_fixedpoint.h"
#include "ekd_validate.h"

/* How an input row quantized (ekd_quantize_row's result). */
#define EKD_ROW_NOT_FINITE (-1)
#define EKD_ROW_ZERO 0 /* all zero (or a range too small to scale): the output is the bias */
#define EKD_ROW_QUANTIZED 1

/* The largest weight scale: an input scale is at most FLT_MAX / 255, so
 * input_scale * filter_scale stays finite and no output can be 0 * infinity (NaN). */
#define EKD_FILTER_SCALE_MAX 127.0f

/* a * b rounded to float on its own. C lets a compiler contract a * b + c into one fused
 * multiply-add, which rounds once (GCC does by default where the FPU has one, as the
 * Cortex-M4F's does); the volatile store forces the separate rounding the reference
 * does, whatever -ffp-contract the user's build passes. */
static float ekd_product_f32(float a, float b)
{
    volatile float product = a * b;
    return product;
}

/* roundf()/round() without libm: halves away from zero. The fractional part of a float
 * is exact, so comparing it with 0.5 decides the rounding exactly. |x| < 2^31. */
static int32_t ekd_round_half_away_f32(float x)
{
    const int32_t truncated = (int32_t)x;
    const float fraction = x - (float)truncated;
    return truncated + (fraction >= 0.5f) - (fraction <= -0.5f);
}

static int32_t ekd_round_half_away_f64(double x)
{
    const int32_t truncated = (int32_t)x;
    const double fraction = x - (double)truncated;
    return truncated + (fraction >= 0.5) - (fraction <= -0.5);
}

/* Quantizes `size` floats to int8 with TFLite's asymmetric scheme: the range includes
 * 0, scale and zero point are computed in double. */
static int ekd_quantize_row(const float *x, int32_t size, int8_t *q, float *scale,
                            int32_t *zero_point)
{
    float low = 0.0f, high = 0.0f, range;
    double range_scale, from_min, from_max, error_min, error_max, zero_point_real;
    float inverse;
    int32_t i, zp;

    for (i = 0; i < size; ++i) {
        const float v = x[i];
        if (!(v >= -FLT_MAX && v <= FLT_MAX)) {
            return EKD_ROW_NOT_FINITE; /* NaN fails both comparisons */
        }
        low = v < low ? v : low;
        high = v > high ? v : high;
    }
    if (low == high) {
        return EKD_ROW_ZERO;
    }
    /* TFLite keeps the range in float: the difference rounds to float (saturating here
     * where it would overflow), only the division is in double. */
    range = high - low;
    range = range > FLT_MAX ? FLT_MAX : range;
    range_scale = (double)range / 255.0;
    from_min = -128.0 - (double)low / range_scale;
    from_max = 127.0 - (double)high / range_scale;
    /* |low / scale| and |high / scale|: low <= 0 <= high */
    error_min = 128.0 - (double)low / range_scale;
    error_max = 127.0 + (double)high / range_scale;
    zero_point_real = error_min < error_max ? from_min : from_max;
    if (zero_point_real <= -128.0) {
        zp = -128;
    } else if (zero_point_real >= 127.0) {
        zp = 127;
    } else {
        zp = ekd_round_half_away_f64(zero_point_real);
    }
    *scale = (float)range_scale;
    if (*scale < FLT_MIN) {
        return EKD_ROW_ZERO; /* 1 / scale would overflow float */
    }
    inverse = (float)(1.0 / (double)*scale);
    for (i = 0; i < size; ++i) {
        const float scaled = (float)zp + ekd_product_f32(x[i], inverse);
        q[i] = (int8_t)ekd_clamp_s32(ekd_round_half_away_f32(scaled), -128, 127);
    }
    *zero_point = zp;
    return EKD_ROW_QUANTIZED;
}

static float ekd_clamp_f32(float v, float lo, float hi)
{
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

int32_t ekd_dynamic_fully_connected_f32_scratch_size(const ekd_dims *input_dims,
                                                     const ekd_dims *filter_dims,
                                                     const ekd_dims *output_dims)
{
    (void)input_dims;
    (void)output_dims;
    return filter_dims != NULL && filter_dims->c > 0 ? filter_dims->c : 0;
}

ekd_status ekd_dynamic_fully_connected_f32(const ekd_context *ctx,
                                           const ekd_dynamic_fc_params *params,
                                           const float *filter_scale,
                                           const ekd_dims *input_dims, const float *input,
                                           const ekd_dims *filter_dims, const int8_t *filter,
                                           const float *bias,
                                           const ekd_dims *output_dims, float *output)
{
    int32_t batch, out_c, batches, accum_depth, out_depth;
    float activation_min, activation_max;
    int8_t *q;

    if (ctx == NULL || params == NULL || filter_scale == NULL || input == NULL ||
        filter == NULL || output == NULL) {
        return EKD_ERROR_ARGUMENT;
    }
    if (!ekd_dims_valid(input_dims) || !ekd_dims_valid(filter_dims) ||
        !ekd_dims_valid(output_dims)) {
        return EKD_ERROR_ARGUMENT;
    }
    batches = output_dims->n * output_dims->h * output_dims->w;
    accum_depth = filter_dims->c;
    out_depth = output_dims->c;
    if (input_dims->n * input_dims->h * input_dims->w * input_dims->c != batches * accum_depth ||
        filter_dims->n != out_depth || filter_dims->h != 1 || filter_dims->w != 1) {
        return EKD_ERROR_ARGUMENT;
    }
    if (ctx->buf == NULL || ctx->size < accum_depth) {
        return EKD_ERROR_SCRATCH;
    }
    activation_min = params->activation_min;
    activation_max = params->activation_max;
    if (!(activation_min <= activation_max)) {
        return EKD_ERROR_ARGUMENT; /* also a NaN bound */
    }
    for (out_c = 0; out_c < out_depth; ++out_c) {
        if (!(filter_scale[out_c] > 0.0f && filter_scale[out_c] <= EKD_FILTER_SCALE_MAX)) {
            return EKD_ERROR_ARGUMENT;
        }
    }

    q = (int8_t *)ctx->buf;
    for (batch = 0; batch < batches; ++batch) {
        const float *x = input + (size_t)batch * accum_depth;
        float *y = output + (size_t)batch * out_depth;
        float input_scale = 1.0f;
        int32_t zero_point = 0;
        const int row = ekd_quantize_row(x, accum_depth, q, &input_scale, &zero_point);

        if (row == EKD_ROW_NOT_FINITE) {
            return EKD_ERROR_ARGUMENT;
        }
        for (out_c = 0; out_c < out_depth; ++out_c) {
            float v = bias != NULL ? bias[out_c] : 0.0f;
            if (row == EKD_ROW_QUANTIZED) {
                const int8_t *w = filter + (size_t)out_c * accum_depth;
                const float channel_scale = input_scale * filter_scale[out_c];
                int32_t acc = 0;
                int32_t d;
                for (d = 0; d < accum_depth; ++d) {
                    acc = ekd_wrapping_add_s32(acc, w[d] * (q[d] - zero_point));
                }
                v = ekd_product_f32((float)acc, channel_scale);
                if (bias != NULL) {
                    v = bias[out_c] + v;
                }
            }
            y[out_c] = ekd_clamp_f32(v, activation_min, activation_max);
        }
    }
    return EKD_OK;
}
