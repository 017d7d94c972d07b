/*
 * edgekd runtime: portable C99 int8 kernels, bit-exact with TensorFlow Lite Micro's
 * reference integer kernels.
 *
 * Every kernel takes its arguments in one order (as CMSIS-NN does):
 *   context (scratch), op parameters, quantization parameters,
 *   then (dims, data) pairs for input, filter, bias and output,
 * and returns an ekd_status. No kernel allocates, keeps state or uses floating point
 * (except the QUANTIZE/DEQUANTIZE boundary ops, which convert float data by definition).
 * All parameters are computed offline by edgekd's code generator; see
 * edgekd/reference/params.py for how each field is derived from the model.
 */
#ifndef EDGEKD_EKD_H
#define EDGEKD_EKD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    EKD_OK = 0,
    EKD_ERROR_ARGUMENT = -1, /* a null pointer or inconsistent dimensions */
    EKD_ERROR_SCRATCH = -2   /* the scratch buffer is smaller than the kernel needs */
} ekd_status;

/* NHWC dimensions. Filters: conv [out_c, kh, kw, in_c] -> {n=out_c, h=kh, w=kw, c=in_c};
 * depthwise [1, kh, kw, out_c] -> {n=1, h=kh, w=kw, c=out_c};
 * fully connected [out, in] -> {n=out, h=1, w=1, c=in}. */
typedef struct {
    int32_t n, h, w, c;
} ekd_dims;

/* Scratch memory handed to a kernel; size in bytes. May be {NULL, 0} for kernels that
 * report a scratch size of 0. */
typedef struct {
    void *buf;
    int32_t size;
} ekd_context;

/* Requantization of int32 accumulators, one (multiplier, shift) per output channel:
 * out = MultiplyByQuantizedMultiplier(acc, multiplier[c], shift[c]); shift > 0 is left. */
typedef struct {
    const int32_t *multiplier;
    const int32_t *shift;
} ekd_per_channel_quant;

typedef struct {
    int32_t input_offset;  /* -input zero point */
    int32_t output_offset; /* +output zero point */
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w; /* leading (top, left) padding */
    int32_t depth_multiplier; /* depthwise only; 1 for CONV_2D */
    int32_t activation_min, activation_max;
} ekd_conv_params;

typedef struct {
    int32_t input_offset;
    int32_t filter_offset; /* -weights zero point (0 for symmetric weights) */
    int32_t output_offset;
    int32_t activation_min, activation_max;
} ekd_fc_params;

typedef struct {
    int32_t stride_h, stride_w;
    int32_t filter_h, filter_w;
    int32_t pad_h, pad_w;
    int32_t activation_min, activation_max;
} ekd_pool_params;

/* TFLM's int8 ADD: both inputs are rescaled to a common scale with `left_shift` bits of
 * headroom, added, then rescaled to the output. */
typedef struct {
    int32_t input1_offset, input1_multiplier, input1_shift;
    int32_t input2_offset, input2_multiplier, input2_shift;
    int32_t left_shift;
    int32_t output_offset, output_multiplier, output_shift;
    int32_t activation_min, activation_max;
} ekd_add_params;

/* TFLM's int8 SOFTMAX (gemmlowp fixed-point exp); output scale 1/256, zero point -128. */
typedef struct {
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min;
} ekd_softmax_params;

/* Bytes of scratch a kernel needs for these shapes (0 for the portable kernels). */
int32_t ekd_conv2d_s8_scratch_size(const ekd_dims *input_dims, const ekd_dims *filter_dims,
                                   const ekd_dims *output_dims);
int32_t ekd_depthwise_conv2d_s8_scratch_size(const ekd_dims *input_dims,
                                             const ekd_dims *filter_dims,
                                             const ekd_dims *output_dims);

ekd_status ekd_conv2d_s8(const ekd_context *ctx, const ekd_conv_params *params,
                         const ekd_per_channel_quant *quant,
                         const ekd_dims *input_dims, const int8_t *input,
                         const ekd_dims *filter_dims, const int8_t *filter,
                         const int32_t *bias, /* may be NULL */
                         const ekd_dims *output_dims, int8_t *output);

ekd_status ekd_depthwise_conv2d_s8(const ekd_context *ctx, const ekd_conv_params *params,
                                   const ekd_per_channel_quant *quant,
                                   const ekd_dims *input_dims, const int8_t *input,
                                   const ekd_dims *filter_dims, const int8_t *filter,
                                   const int32_t *bias, /* may be NULL */
                                   const ekd_dims *output_dims, int8_t *output);

/* input_dims: {n=batches, h=1, w=1, c=in}; output_dims: {n=batches, h=1, w=1, c=out}.
 * quant holds one entry per output (the generator repeats a per-tensor value). */
ekd_status ekd_fully_connected_s8(const ekd_fc_params *params,
                                  const ekd_per_channel_quant *quant,
                                  const ekd_dims *input_dims, const int8_t *input,
                                  const ekd_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias, /* may be NULL */
                                  const ekd_dims *output_dims, int8_t *output);

ekd_status ekd_avgpool_s8(const ekd_pool_params *params,
                          const ekd_dims *input_dims, const int8_t *input,
                          const ekd_dims *output_dims, int8_t *output);

ekd_status ekd_maxpool_s8(const ekd_pool_params *params,
                          const ekd_dims *input_dims, const int8_t *input,
                          const ekd_dims *output_dims, int8_t *output);

/* Elementwise over `size` values; output may alias either input. */
ekd_status ekd_add_s8(const ekd_add_params *params, int32_t size,
                      const int8_t *input1, const int8_t *input2, int8_t *output);

/* Softmax over the last dimension: `rows` rows of `depth` values. */
ekd_status ekd_softmax_s8(const ekd_softmax_params *params, int32_t rows, int32_t depth,
                          const int8_t *input, int8_t *output);

/* Model boundary: float -> int8 (round half away from zero, as TFLM) and back. */
ekd_status ekd_quantize_f32_s8(float scale, int32_t zero_point, int32_t size,
                               const float *input, int8_t *output);
ekd_status ekd_dequantize_s8_f32(float scale, int32_t zero_point, int32_t size,
                                 const int8_t *input, float *output);

#ifdef __cplusplus
}
#endif

#endif /* EDGEKD_EKD_H */
