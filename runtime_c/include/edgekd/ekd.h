/*
 * edgekd runtime: portable C99 int8 kernels, bit-exact with TensorFlow Lite Micro's
 * reference integer kernels.
 *
 * Every kernel takes its arguments in one order (as CMSIS-NN does):
 *   context (scratch), op parameters, quantization parameters,
 *   then (dims, data) pairs for input, filter, bias and output,
 * and returns an ekd_status. No kernel allocates, keeps state or uses floating point
 * (except the QUANTIZE/DEQUANTIZE boundary ops, which convert float data by definition,
 * and the float32 path ekd_dynamic_fully_connected_f32 for cores with an FPU).
 * All parameters are computed offline by edgekd's code generator; see
 * edgekd/reference/params.py for how each field is derived from the model.
 */
#ifndef EDGEKD_EKD_H
#define EDGEKD_EKD_H

#include <stddef.h>
#include <stdint.h>

/* Kernel families chosen at compile time. Generated code calls a Helium (MVE) kernel,
 * where edgekd has one for the layer, when EKD_HAVE_MVE is 1: on Armv8.1-M cores with
 * the integer M-profile Vector Extension (Cortex-M55, M85). Define EKD_PORTABLE_KERNELS
 * to use the portable C99 kernels everywhere. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(EKD_PORTABLE_KERNELS)
#define EKD_HAVE_MVE 1
#else
#define EKD_HAVE_MVE 0
#endif

/* 1 where the optimized kernels compile for the Arm DSP extension (SXTB16/SMLAD: Cortex-M4,
 * M7, M33, M55...), 0 where they compile to portable C (Cortex-M0/M3, RISC-V, the host).
 * Define EKD_NO_DSP to build the portable C on a DSP core. Generated code picks a
 * different kernel for a layer by it only where a DSP kernel and the portable C one
 * differ in speed by more than their scratch is worth (docs/codegen.md). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(EKD_NO_DSP)
#define EKD_HAVE_DSP 1
#else
#define EKD_HAVE_DSP 0
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    EKD_OK = 0,
    /* Arguments no valid model produces: a null pointer, a dimension below 1,
     * inconsistent dimensions, a shift outside [-31, 1024] (the optimized and Helium
     * kernels: [-31, 30]; an ADD's: [-31, 0]), a zero-point offset outside
     * [-255, 255], an activation range outside int8. Checked before any output is
     * written; data-dependent failures (an AVERAGE_POOL_2D window with no input value
     * in it, as in TFLM) may leave the output partly written. */
    EKD_ERROR_ARGUMENT = -1,
    EKD_ERROR_SCRATCH = -2   /* the scratch buffer is smaller than the kernel needs */
} ekd_status;

/* NHWC dimensions. Filters: conv [out_c, kh, kw, in_c] -> {n=out_c, h=kh, w=kw, c=in_c};
 * depthwise [1, kh, kw, out_c] -> {n=1, h=kh, w=kw, c=out_c};
 * fully connected [out, in] -> {n=out, h=1, w=1, c=in}. */
typedef struct {
    int32_t n, h, w, c;
} ekd_dims;

/* Scratch memory handed to a kernel; size in bytes. May be {NULL, 0}, or the context
 * pointer itself NULL, for kernels that report a scratch size of 0. */
typedef struct {
    void *buf;
    int32_t size;
} ekd_context;

/* Requantization of int32 accumulators, one (multiplier, shift) per output channel:
 * out = MultiplyByQuantizedMultiplier(acc, multiplier[c], shift[c]); shift > 0 is left
 * (from 31 on, by shift % 32, as TFLM's host build computes it: ekd_fixedpoint.h). */
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

/* DYNAMIC_FULLY_CONNECTED: the output is clamped to [activation_min, activation_max]
 * (float32; +-FLT_MAX for no activation, [0, FLT_MAX] for ReLU, [0, 6] for ReLU6). */
typedef struct {
    float activation_min, activation_max;
} ekd_dynamic_fc_params;

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

/* TFLM's int8 MEAN and SUM: out = clamp(MultiplyByQuantizedMultiplier(sum + sum_bias,
 * multiplier, shift) + output_offset) over the int32 (wrapping) sum of the reduced
 * values; sum_bias is -(input zero point) x count, MEAN's 1/count folded into the
 * multiplier offline. */
typedef struct {
    int32_t sum_bias;
    int32_t multiplier, shift;
    int32_t output_offset;
} ekd_reduce_params;

/* A reduction's geometry: the input read as kept dims x reduced dims, each up to four
 * (adjacent dims merged offline, unused ones 1 with stride 0), strides in elements of the
 * input. The output holds the kept dims in order, outermost first. */
typedef struct {
    int32_t kept[4], kept_stride[4];
    int32_t reduced[4], reduced_stride[4];
} ekd_reduce_shape;

/* TFLM's int8 MUL: out = clamp(MultiplyByQuantizedMultiplier((x1 + input1_offset) *
 * (x2 + input2_offset), output_multiplier, output_shift) + output_offset). */
typedef struct {
    int32_t input1_offset, input2_offset;
    int32_t output_offset, output_multiplier, output_shift;
    int32_t activation_min, activation_max;
} ekd_mul_params;

/* TFLM's int8 PRELU: x + input_offset >= 0 is rescaled by (output_multiplier_1, _shift_1);
 * below, its product with alpha + alpha_offset by (output_multiplier_2, _shift_2). */
typedef struct {
    int32_t input_offset, alpha_offset, output_offset;
    int32_t output_multiplier_1, output_shift_1;
    int32_t output_multiplier_2, output_shift_2;
} ekd_prelu_params;

/* A broadcasting binary op's geometry: the output's dims (up to four, adjacent dims
 * merged offline, unused ones 1) and each input's stride per dim in elements (0 where
 * that input is broadcast). */
typedef struct {
    int32_t dims[4];
    int32_t stride1[4], stride2[4];
} ekd_broadcast_shape;

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

/* Optimized CONV_2D and DEPTHWISE_CONV_2D: the same bytes as the kernels above, several
 * times faster; compiled for the Arm DSP extension (SXTB16/SMLAD) where the core has it
 * (Cortex-M4/M7/M33/M55), as portable C elsewhere. The code generator picks one per layer
 * (docs/codegen.md) and prepares their constants offline:
 *   - ekd_conv2d_1x1_s8, ekd_conv2d_im2col_s8: `filter` packed in blocks of 4 output
 *     channels x 4 values ("rows4": block (b, g) = rows 4b..4b+3, values 4g..4g+3 of the
 *     flattened [kh][kw][in_c] row, row after row, zero-padded; blocks of a row group in
 *     order), `bias` folded: bias[c] + input_offset * sum(filter row c), never NULL;
 *     filter_dims keep the model's [out_c, kh, kw, in_c];
 *   - ekd_conv2d_winograd_s8: `filter` the Winograd-transformed weights, int16 (passed as
 *     const int8_t *, 4-byte aligned; edgekd/codegen/optimized.py: winograd_filter), the
 *     bias folded;
 *   - ekd_depthwise_conv2d_fast_s8: the model's weights and bias.
 * All need every multiplier >= 0 and every shift <= -1 (checked: EKD_ERROR_ARGUMENT), and
 * |bias[c]| + 255 * sum(|filter of channel c|) < 2^30 for the model's bias (not checked:
 * it needs a pass over the weights, so the generator checks it offline); the conv kernels
 * need the scratch their *_scratch_size reports, 4-byte aligned (EKD_ERROR_SCRATCH if
 * smaller or missing).
 * ekd_conv2d_1x1_s8: 1x1 filter, no padding, any stride: a plain matrix product.
 * ekd_conv2d_im2col_s8: any filter, stride, dilation and padding (im2col + matrix product).
 * ekd_conv2d_winograd_s8: 3x3 filter, stride 1, dilation 1, any padding (Winograd
 *     F(2x2, 3x3): 16 multiplications per 2x2 outputs instead of 36).
 * ekd_depthwise_conv2d_fast_s8: depth_multiplier 1, any filter, stride, dilation, padding. */
int32_t ekd_conv2d_1x1_s8_scratch_size(const ekd_dims *input_dims, const ekd_dims *filter_dims,
                                       const ekd_dims *output_dims);
ekd_status ekd_conv2d_1x1_s8(const ekd_context *ctx, const ekd_conv_params *params,
                             const ekd_per_channel_quant *quant,
                             const ekd_dims *input_dims, const int8_t *input,
                             const ekd_dims *filter_dims, const int8_t *filter, /* rows4 */
                             const int32_t *bias, /* folded */
                             const ekd_dims *output_dims, int8_t *output);
int32_t ekd_conv2d_im2col_s8_scratch_size(const ekd_dims *input_dims,
                                          const ekd_dims *filter_dims,
                                          const ekd_dims *output_dims);
ekd_status ekd_conv2d_im2col_s8(const ekd_context *ctx, const ekd_conv_params *params,
                                const ekd_per_channel_quant *quant,
                                const ekd_dims *input_dims, const int8_t *input,
                                const ekd_dims *filter_dims, const int8_t *filter, /* rows4 */
                                const int32_t *bias, /* folded */
                                const ekd_dims *output_dims, int8_t *output);
int32_t ekd_conv2d_winograd_s8_scratch_size(const ekd_dims *input_dims,
                                            const ekd_dims *filter_dims,
                                            const ekd_dims *output_dims);
ekd_status ekd_conv2d_winograd_s8(const ekd_context *ctx, const ekd_conv_params *params,
                                  const ekd_per_channel_quant *quant,
                                  const ekd_dims *input_dims, const int8_t *input,
                                  const ekd_dims *filter_dims,
                                  const int8_t *filter, /* int16 Winograd weights */
                                  const int32_t *bias, /* folded */
                                  const ekd_dims *output_dims, int8_t *output);
ekd_status ekd_depthwise_conv2d_fast_s8(const ekd_context *ctx, /* unused: no scratch */
                                        const ekd_conv_params *params,
                                        const ekd_per_channel_quant *quant,
                                        const ekd_dims *input_dims, const int8_t *input,
                                        const ekd_dims *filter_dims, const int8_t *filter,
                                        const int32_t *bias, /* may be NULL */
                                        const ekd_dims *output_dims, int8_t *output);

/* A residual ADD fused into a convolution's output (the code generator fuses an ADD into
 * the CONV_2D whose output only that ADD reads): each output byte becomes
 * ADD(conv, input[i]) with `params` as TFLM's int8 ADD prepares them (ekd_add_fast_s8's
 * conditions), input 1 being the convolution's int8 output after its own requantization
 * and clamp, input 2 the residual. `input` has the output's shape and may be the output
 * itself: each residual byte is read before its output byte is written. */
typedef struct {
    const ekd_add_params *params;
    const int8_t *input;
} ekd_residual;

/* CONV_2D reading its input in place, no im2col and no scratch needed, optionally with a
 * fused residual ADD (`residual` NULL: none): the same bytes as ekd_conv2d_s8 (then
 * ekd_add_s8). Dilation 1, any filter size, stride and padding; input channels a multiple
 * of 4 (ekd_conv2d_direct_s8) or of 16 (ekd_conv2d_direct_s8_mve, Helium). `filter` is
 * packed "rows4" (as ekd_conv2d_im2col_s8 reads it) for ekd_conv2d_direct_s8, the model's
 * [out_c][kh][kw][in_c] for the MVE kernel; `bias` folded. A window that reaches into the
 * padding reads only its taps inside the input; `tap_sums` [kh * kw][out_c] (the sum of
 * each tap's in_c weights, int32) take the folded zero-point term of the others back out.
 * Same preconditions as the other optimized convolutions.
 * Scratch is optional for ekd_conv2d_direct_s8: given at least
 * ekd_conv2d_direct_s8_scratch_size bytes, 4-byte aligned, in `ctx`, an Arm DSP build
 * takes a faster path through it (8 bytes per window value: four pixels' windows as
 * int16); with less, none or ctx NULL it runs without, the same bytes. The size is 0
 * where there is no such path (portable C); the MVE kernel uses no scratch. */
int32_t ekd_conv2d_direct_s8_scratch_size(const ekd_dims *input_dims,
                                          const ekd_dims *filter_dims,
                                          const ekd_dims *output_dims);
ekd_status ekd_conv2d_direct_s8(const ekd_context *ctx, /* optional scratch */
                                const ekd_conv_params *params,
                                const ekd_per_channel_quant *quant,
                                const ekd_dims *input_dims, const int8_t *input,
                                const ekd_dims *filter_dims, const int8_t *filter, /* rows4 */
                                const int32_t *bias, /* folded */
                                const int32_t *tap_sums, /* [kh * kw][out_c] */
                                const ekd_dims *output_dims, int8_t *output,
                                const ekd_residual *residual /* may be NULL */);

/* ekd_conv2d_winograd_s8 with a fused residual ADD (`residual` not NULL): the same bytes
 * as ekd_conv2d_winograd_s8, then ekd_add_s8 with the convolution as input 1. */
ekd_status ekd_conv2d_winograd_add_s8(const ekd_context *ctx, const ekd_conv_params *params,
                                      const ekd_per_channel_quant *quant,
                                      const ekd_dims *input_dims, const int8_t *input,
                                      const ekd_dims *filter_dims,
                                      const int8_t *filter, /* int16 Winograd weights */
                                      const int32_t *bias, /* folded */
                                      const ekd_dims *output_dims, int8_t *output,
                                      const ekd_residual *residual);

/* input_dims: {n=batches, h=1, w=1, c=in}; output_dims: {n=batches, h=1, w=1, c=out}.
 * quant holds one entry per output (the generator repeats a per-tensor value). */
ekd_status ekd_fully_connected_s8(const ekd_fc_params *params,
                                  const ekd_per_channel_quant *quant,
                                  const ekd_dims *input_dims, const int8_t *input,
                                  const ekd_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias, /* may be NULL */
                                  const ekd_dims *output_dims, int8_t *output);

/* Optimized FULLY_CONNECTED (Arm DSP SMLAD where the core has it, portable C elsewhere):
 * the same bytes as ekd_fully_connected_s8 for filter_offset 0, `filter` packed "rows4"
 * (as ekd_conv2d_1x1_s8's, the rows [out][in]; 4-byte aligned, the DSP loop loads it
 * with LDM), `bias` folded (never NULL), every
 * multiplier >= 0 and shift <= -1 (checked), |bias[r]| + 255 * sum(|filter row r|) < 2^30
 * (checked offline by the generator), in <= 32768. No scratch; any batch count. */
ekd_status ekd_fully_connected_fast_s8(const ekd_fc_params *params,
                                       const ekd_per_channel_quant *quant,
                                       const ekd_dims *input_dims, const int8_t *input,
                                       const ekd_dims *filter_dims,
                                       const int8_t *filter, /* rows4 */
                                       const int32_t *bias, /* folded */
                                       const ekd_dims *output_dims, int8_t *output);

/* Dynamic (hybrid) quantization, float32 in and out: each input row of filter_dims->c
 * values is quantized to int8 from its own range at run time (TFLite's hybrid
 * FULLY_CONNECTED with asymmetric inputs; exact arithmetic in
 * edgekd/reference/dynamic_fully_connected.py), multiplied with the int8 weights in
 * int32, scaled by input scale x filter_scale[c] and added to the float bias. Scratch:
 * ekd_dynamic_fully_connected_f32_scratch_size bytes (one quantized row). Returns
 * EKD_ERROR_ARGUMENT also for a NaN or infinite input value. Not for -ffast-math builds
 * (the kernel keeps float operations apart itself, whatever -ffp-contract says). */
int32_t ekd_dynamic_fully_connected_f32_scratch_size(const ekd_dims *input_dims,
                                                     const ekd_dims *filter_dims,
                                                     const ekd_dims *output_dims);
ekd_status ekd_dynamic_fully_connected_f32(const ekd_context *ctx,
                                           const ekd_dynamic_fc_params *params,
                                           const float *filter_scale, /* [out], (0, 127] */
                                           const ekd_dims *input_dims, const float *input,
                                           const ekd_dims *filter_dims, const int8_t *filter,
                                           const float *bias, /* may be NULL */
                                           const ekd_dims *output_dims, float *output);

ekd_status ekd_avgpool_s8(const ekd_pool_params *params,
                          const ekd_dims *input_dims, const int8_t *input,
                          const ekd_dims *output_dims, int8_t *output);

ekd_status ekd_maxpool_s8(const ekd_pool_params *params,
                          const ekd_dims *input_dims, const int8_t *input,
                          const ekd_dims *output_dims, int8_t *output);

/* Elementwise over `size` values; output may alias either input. */
ekd_status ekd_add_s8(const ekd_add_params *params, int32_t size,
                      const int8_t *input1, const int8_t *input2, int8_t *output);

/* ADD as ekd_add_s8, faster (SMMLAR on Arm DSP cores), for what TFLM's int8 ADD prepares:
 * left_shift <= 20, multipliers >= 0, input shifts <= 0, output shift <= -1
 * (EKD_ERROR_ARGUMENT otherwise). Output may alias either input. */
ekd_status ekd_add_fast_s8(const ekd_add_params *params, int32_t size,
                           const int8_t *input1, const int8_t *input2, int8_t *output);

/* Softmax over the last dimension: `rows` rows of `depth` values. */
ekd_status ekd_softmax_s8(const ekd_softmax_params *params, int32_t rows, int32_t depth,
                          const int8_t *input, int8_t *output);

/* Every int8 -> int8 elementwise activation (LOGISTIC, TANH, HARD_SWISH, RELU, RELU6,
 * LEAKY_RELU) and REQUANTIZE: output[i] = table[input[i] + 128], the 256-entry table
 * computed offline from the op's reference arithmetic. Output may alias input. A
 * REQUANTIZE from or to uint8 (the model boundary) passes its bytes as int8: the table
 * is indexed and filled by byte. */
ekd_status ekd_lut_s8(const int8_t *table, int32_t size, const int8_t *input,
                      int8_t *output);

/* MEAN and SUM over the reduced dims of `shape`. */
ekd_status ekd_reduce_sum_s8(const ekd_reduce_params *params, const ekd_reduce_shape *shape,
                             const int8_t *input, int8_t *output);
/* REDUCE_MAX (input and output share one quantization). */
ekd_status ekd_reduce_max_s8(const ekd_reduce_shape *shape, const int8_t *input,
                             int8_t *output);
/* ARG_MAX and ARG_MIN along the one reduced dim of `shape` (reduced[3]); the first index
 * of the extreme value, as TFLM. */
ekd_status ekd_arg_max_s8(const ekd_reduce_shape *shape, const int8_t *input,
                          int32_t *output);
ekd_status ekd_arg_min_s8(const ekd_reduce_shape *shape, const int8_t *input,
                          int32_t *output);

/* Broadcasting binary ops (TFLite's rules, up to 4-D). Output may alias an input that
 * is not broadcast. SUB takes ADD's parameters (TFLM's SUB arithmetic is ADD's with a
 * difference). MINIMUM and MAXIMUM compare codes: inputs and output share a scale. */
ekd_status ekd_mul_s8(const ekd_mul_params *params, const ekd_broadcast_shape *shape,
                      const int8_t *input1, const int8_t *input2, int8_t *output);
ekd_status ekd_sub_s8(const ekd_add_params *params, const ekd_broadcast_shape *shape,
                      const int8_t *input1, const int8_t *input2, int8_t *output);
/* ADD as ekd_add_s8, broadcasting (the generated code calls it where the inputs' shapes
 * differ or one is a constant). */
ekd_status ekd_add_broadcast_s8(const ekd_add_params *params, const ekd_broadcast_shape *shape,
                                const int8_t *input1, const int8_t *input2, int8_t *output);
ekd_status ekd_prelu_s8(const ekd_prelu_params *params, const ekd_broadcast_shape *shape,
                        const int8_t *input, const int8_t *alpha, int8_t *output);
ekd_status ekd_minimum_s8(const ekd_broadcast_shape *shape, const int8_t *input1,
                          const int8_t *input2, int8_t *output);
ekd_status ekd_maximum_s8(const ekd_broadcast_shape *shape, const int8_t *input1,
                          const int8_t *input2, int8_t *output);

/* Model boundary: float -> int8 (round half away from zero, as TFLM) and back. */
ekd_status ekd_quantize_f32_s8(float scale, int32_t zero_point, int32_t size,
                               const float *input, int8_t *output);
ekd_status ekd_dequantize_s8_f32(float scale, int32_t zero_point, int32_t size,
                                 const int8_t *input, float *output);

/* Layout ops: a strided copy of bytes. For every index of the `rank` outer axes (the last
 * fastest), copy `run_bytes` contiguous bytes; moving one step along axis d moves the
 * source by src_stride[d] bytes and the destination by dst_stride[d] (either may be
 * negative or 0). The pointers are those of the first run. */
#define EKD_COPY_MAX_RANK 8
typedef struct {
    int32_t rank;
    int32_t run_bytes;
    int32_t count[8]; /* EKD_COPY_MAX_RANK (a literal: the cffi parser reads this header) */
    int32_t src_stride[8];
    int32_t dst_stride[8];
} ekd_copy_params;

ekd_status ekd_copy_s8(const ekd_copy_params *params, const void *source, void *destination);
/* RESIZE_NEAREST_NEIGHBOR: output pixel (y, x) is input pixel (y_map[y], x_map[x]). */
ekd_status ekd_resize_nearest_s8(const ekd_dims *input_dims, const ekd_dims *output_dims,
                                 const int32_t *y_map, const int32_t *x_map,
                                 const void *input, void *output);
/* RESIZE_BILINEAR: tables [out][3] of (first row/column, second, position past the
 * first in 1/1024ths), as edgekd/reference/resize.py prepares them. */
ekd_status ekd_resize_bilinear_s8(const ekd_dims *input_dims, const ekd_dims *output_dims,
                                  const int32_t *y_table, const int32_t *x_table,
                                  const int8_t *input, int8_t *output);
/* `bytes` bytes of the 8-bit code `value` (-128..255), e.g. PAD's border. */
ekd_status ekd_fill_s8(int32_t value, int32_t bytes, void *destination);

/* TFLM's integer UNIDIRECTIONAL_SEQUENCE_LSTM (edgekd/reference/lstm.py): int8 input,
 * weights and output, int16 gates and cell state, both states reset on every call. Per
 * gate, in TFLite's order input, forget, cell, output. */
typedef struct {
    int32_t batch, time_steps, input_size, units, time_major;
    int32_t input_offset, hidden_offset, hidden_zero_point;
    int32_t input_multiplier[4], input_shift[4];
    int32_t recurrent_multiplier[4], recurrent_shift[4];
    int32_t forget_multiplier, forget_shift;
    int32_t update_multiplier, update_shift;
    int32_t hidden_multiplier, hidden_shift;
    int32_t clip_cell, cell_clip; /* clip_cell: clamp the cell to +-cell_clip */
    int32_t cell_tanh_multiplier, cell_tanh_shift;
} ekd_lstm_params;

typedef struct {
    const int8_t *input_weights[4];     /* [units, input_size] */
    const int8_t *recurrent_weights[4]; /* [units, units] */
    const int32_t *bias[4];             /* [units]; NULL: none */
} ekd_lstm_weights;

/* Scratch: the gates, the cell and the hidden state of every batch row. */
int32_t ekd_lstm_s8_scratch_size(const ekd_lstm_params *params);
/* input [batch, time, input_size] ([time, batch, ...] when time_major), output likewise
 * with units values per step. */
ekd_status ekd_lstm_s8(const ekd_context *ctx, const ekd_lstm_params *params,
                       const ekd_lstm_weights *weights, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

/* The Helium kernels (declared everywhere, defined where EKD_HAVE_MVE is 1). */
#include "edgekd/ekd_mve.h"

#endif /* EDGEKD_EKD_H */
