/*
 * edgekd runtime: Helium (M-profile Vector Extension, MVE) kernels for Armv8.1-M cores
 * (Cortex-M55, Cortex-M85). Included by edgekd/ekd.h; the functions exist only in builds
 * where EKD_HAVE_MVE is 1 (see ekd.h), and generated code calls them only there.
 *
 * They compute exactly the bytes the portable kernels compute (TFLM's reference integer
 * arithmetic, double-rounding requantization included) and take the same arguments in
 * the same order, with these differences, all prepared offline by edgekd's code
 * generator (edgekd/codegen/kernels.py):
 *
 *   folded_bias  int32 [out_c], never NULL: bias[c] + input_offset * (sum of the weights
 *                of output channel c), wrapping modulo 2^32. The kernels then multiply raw
 *                int8 inputs; a tap in the padding reads the input zero point
 *                (-input_offset), which cancels its share of the folded term exactly.
 *   filter       (CONV_2D) each output channel's row of kernel_h * kernel_w * in_c
 *                weights padded with zeros to a multiple of 16 bytes:
 *                [out_c][round_up(kernel_h * kernel_w * in_c, 16)] (the model's layout
 *                when the row is a whole number of vectors already).
 *   packed_filter (depthwise) the weights regrouped for 4-lane loads: channel blocks of
 *                4, each holding its kernel_h * kernel_w taps of 4 weights in tap order,
 *                the last block zero-filled: [ceil(c / 4)][kernel_h * kernel_w][4].
 *
 * In-place use: each kernel writes its output in raster order (batch, row, column) and
 * may run with the output placed below its input in the same buffer, overlapping it, as
 * long as the output starts at least the "lead" edgekd computes for it before the input
 * (edgekd/codegen/inplace.py; the contract of each kernel is stated at its definition).
 */
#ifndef EDGEKD_EKD_MVE_H
#define EDGEKD_EKD_MVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CONV_2D with a 1x1 kernel and no padding (any stride): a matrix product of the input
 * pixels with the filter. Scratch: none up to 64 input channels, else four pixels,
 * 4 * round_up(in_c, 16) bytes. */
int32_t ekd_conv2d_1x1_s8_mve_scratch_size(const ekd_dims *input_dims,
                                           const ekd_dims *filter_dims,
                                           const ekd_dims *output_dims);
ekd_status ekd_conv2d_1x1_s8_mve(const ekd_context *ctx, const ekd_conv_params *params,
                                 const ekd_per_channel_quant *quant,
                                 const ekd_dims *input_dims, const int8_t *input,
                                 const ekd_dims *filter_dims, const int8_t *filter,
                                 const int32_t *folded_bias,
                                 const ekd_dims *output_dims, int8_t *output);

/* FULLY_CONNECTED: four rows per pass, VMLADAVA. `filter` rows padded with zeros to
 * round_up(in, 16) bytes, `folded_bias` bias + input_offset * sum(row), filter_offset 0;
 * any multiplier and shift, any batch count, no scratch. */
ekd_status ekd_fully_connected_s8_mve(const ekd_fc_params *params,
                                      const ekd_per_channel_quant *quant,
                                      const ekd_dims *input_dims, const int8_t *input,
                                      const ekd_dims *filter_dims, const int8_t *filter,
                                      const int32_t *folded_bias,
                                      const ekd_dims *output_dims, int8_t *output);

/* CONV_2D read in place (no scratch), optionally with a fused residual ADD: see
 * ekd_conv2d_direct_s8 in ekd.h. Dilation 1, in_c a multiple of 16; `filter` the model's
 * [out_c][kh][kw][in_c], `bias` folded, `tap_sums` [kh * kw][out_c]. */
ekd_status ekd_conv2d_direct_s8_mve(const ekd_context *ctx, /* unused: no scratch */
                                    const ekd_conv_params *params,
                                    const ekd_per_channel_quant *quant,
                                    const ekd_dims *input_dims, const int8_t *input,
                                    const ekd_dims *filter_dims, const int8_t *filter,
                                    const int32_t *folded_bias,
                                    const int32_t *tap_sums,
                                    const ekd_dims *output_dims, int8_t *output,
                                    const ekd_residual *residual /* may be NULL */);

/* CONV_2D, any kernel, stride, dilation and padding. Scratch: the windows of four output
 * pixels, each kernel_h * kernel_w * in_c bytes rounded up to 16, and one more when
 * kernel_w * in_c is not a multiple of 16. */
int32_t ekd_conv2d_s8_mve_scratch_size(const ekd_dims *input_dims,
                                       const ekd_dims *filter_dims,
                                       const ekd_dims *output_dims);
ekd_status ekd_conv2d_s8_mve(const ekd_context *ctx, const ekd_conv_params *params,
                             const ekd_per_channel_quant *quant,
                             const ekd_dims *input_dims, const int8_t *input,
                             const ekd_dims *filter_dims, const int8_t *filter,
                             const int32_t *folded_bias,
                             const ekd_dims *output_dims, int8_t *output);

/* DEPTHWISE_CONV_2D with depth_multiplier 1, any kernel, stride, dilation and padding;
 * the filter in the packed layout above. Scratch: a row of zero points, in_c bytes
 * rounded up to 16. */
int32_t ekd_depthwise_conv2d_s8_mve_scratch_size(const ekd_dims *input_dims,
                                                 const ekd_dims *filter_dims,
                                                 const ekd_dims *output_dims);
ekd_status ekd_depthwise_conv2d_s8_mve(const ekd_context *ctx, const ekd_conv_params *params,
                                       const ekd_per_channel_quant *quant,
                                       const ekd_dims *input_dims, const int8_t *input,
                                       const ekd_dims *filter_dims,
                                       const int8_t *packed_filter,
                                       const int32_t *folded_bias,
                                       const ekd_dims *output_dims, int8_t *output);

/* AVERAGE_POOL_2D, as ekd_avgpool_s8. */
ekd_status ekd_avgpool_s8_mve(const ekd_pool_params *params,
                              const ekd_dims *input_dims, const int8_t *input,
                              const ekd_dims *output_dims, int8_t *output);

/* ADD, elementwise over `size` values; output may alias either input. */
ekd_status ekd_add_s8_mve(const ekd_add_params *params, int32_t size,
                          const int8_t *input1, const int8_t *input2, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* EDGEKD_EKD_MVE_H */
