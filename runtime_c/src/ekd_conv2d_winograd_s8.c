/*
 * CONV_2D with a 3x3 filter at stride 1 (dilation 1, any padding) by Winograd F(2x2, 3x3):
 * each 2x2 block of outputs costs 16 multiplications per input and output channel instead
 * of 36 (ekd_winograd_s8.h has the arithmetic). Two tiles (2x2 outputs each) at a time,
 * along a tile row: their inputs are transformed into the scratch, then for each group of
 * four output channels the products are summed over the input channels, transformed
 * back, divided by 4 (exactly), added to the folded bias and requantized. Same bytes as
 * ekd_conv2d_s8.
 *
 * Two entry points, one layer loop: ekd_conv2d_winograd_s8, and ekd_conv2d_winograd_add_s8
 * with the residual ADD that follows the convolution fused into its output (ekd.h:
 * ekd_residual): after the conv's own requantization and clamp, output[i] =
 * ADD(conv[i], residual->input[i]) (ekd_add_fast.h), the residual byte read just before
 * output[i] is written, so residual->input may be the output. The conv bytes of a pass's
 * pixels (two tiles: up to 2 rows of 4 pixels) wait in a local array for up to
 * EKD_WINOGRAD_ADD_CHANNELS channels (four groups), then ekd_add_run (ekd_add_run.c, the
 * ADD layer's loop) adds them in runs as long as the output allows: a pass's row of
 * pixels at once where the chunk holds every channel (ResNet-8's 16), a pixel's chunk
 * otherwise (ekd_winograd_residual). The loop is inlined into both with the residual a
 * constant NULL in the first, which therefore compiles to the kernel without the ADD
 * (not one test more per value).
 *
 * A tile row's last pass may hold one tile only; the other slot then repeats it (the
 * scratch layout wants both), but its outputs are stored once: stored again, a residual
 * in the output's place would be added twice.
 *
 * Write order (edgekd/codegen/optimized.py write_order): unchanged by the residual, which
 * is read and written at the same index: two tiles at a time after their reads (a pass
 * reads its input into the scratch before any group, so holding back a chunk's writes
 * until its fourth group keeps them after the pass's reads).
 */
#include "edgekd/ekd.h"
#include "ekd_add_fast.h"
#include "ekd_conv_fast.h"
#include "ekd_fixedpoint.h"
#include "ekd_requantize.h"
#include "ekd_winograd_s8.h"

/* The layer loop is inlined into each entry point, whatever the compiler's size
 * heuristics say: the residual-free copy must not keep the residual's tests. The output
 * transform is called, not inlined: on the Cortex-M4 and RV32 that leaves the
 * requantization loop more registers (measured, 32x32x16 -> 16: about 1 % fewer
 * instructions than inlined; on the Cortex-M3 0.6 % more), and with two callers GCC's
 * own choice would follow its size heuristics. */
#if defined(__GNUC__)
#define EKD_WINO_ALWAYS_INLINE static inline __attribute__((always_inline))
#define EKD_WINO_NOINLINE static __attribute__((noinline))
#else
#define EKD_WINO_ALWAYS_INLINE static inline
#define EKD_WINO_NOINLINE static
#endif

/* Output channels whose conv bytes wait for the residual ADD (four groups): 8 pixels of
 * them, 128 bytes of stack. */
#define EKD_WINOGRAD_ADD_CHANNELS 16
/* Pixels of a pass's row: two per tile. */
#define EKD_WINOGRAD_PASS_W (2 * EKD_WINOGRAD_TILES)

int32_t ekd_conv2d_winograd_s8_scratch_size(const ekd_dims *input_dims,
                                            const ekd_dims *filter_dims,
                                            const ekd_dims *output_dims)
{
    (void)filter_dims;
    (void)output_dims;
    if (input_dims == NULL || input_dims->c <= 0 || input_dims->c > EKD_WINOGRAD_MAX_IN_C) {
        return 0;
    }
    return EKD_WINOGRAD_SCRATCH_BYTES(input_dims->c);
}

/* AT m AT^T / 4 for one tile: m holds the 16 positions' sums; y[a][b] is output (a, b)
 * of the tile without the bias. */
EKD_WINO_NOINLINE void ekd_winograd_output(const int32_t m[16], int32_t y[2][2])
{
    int32_t s[2][4];
    int32_t q;
    for (q = 0; q < 4; ++q) {
        s[0][q] = m[0 + q] + m[4 + q] + m[8 + q];
        s[1][q] = m[4 + q] - m[8 + q] - m[12 + q];
    }
    /* Exactly 4 times TFLM's sum: the shift divides without rounding. */
    y[0][0] = ekd_floor_shift_right_s32(s[0][0] + s[0][1] + s[0][2], 2);
    y[0][1] = ekd_floor_shift_right_s32(s[0][1] - s[0][2] - s[0][3], 2);
    y[1][0] = ekd_floor_shift_right_s32(s[1][0] + s[1][1] + s[1][2], 2);
    y[1][1] = ekd_floor_shift_right_s32(s[1][1] - s[1][2] - s[1][3], 2);
}

/* The checks both entry points make, scratch last (the residual's come before it). */
static ekd_status ekd_winograd_validate(const ekd_context *ctx, const ekd_conv_params *params,
                                        const ekd_per_channel_quant *quant,
                                        const ekd_dims *input_dims, const int8_t *input,
                                        const ekd_dims *filter_dims, const int8_t *filter,
                                        const int32_t *bias, const ekd_dims *output_dims,
                                        const int8_t *output, const ekd_residual *residual,
                                        int fused)
{
    ekd_status status = ekd_validate_conv_fast(params, quant, input_dims, input, filter_dims,
                                               filter, output_dims, output);
    if (status != EKD_OK) {
        return status;
    }
    if (bias == NULL || ((uintptr_t)filter & 3u) != 0 || filter_dims->h != 3 ||
        filter_dims->w != 3 || filter_dims->n != output_dims->c ||
        filter_dims->c != input_dims->c || input_dims->c > EKD_WINOGRAD_MAX_IN_C ||
        params->stride_h != 1 || params->stride_w != 1 || params->dilation_h != 1 ||
        params->dilation_w != 1) {
        return EKD_ERROR_ARGUMENT;
    }
    if (fused && (residual == NULL || residual->input == NULL ||
                  !ekd_add_fast_valid(residual->params))) {
        return EKD_ERROR_ARGUMENT;
    }
    return ekd_validate_scratch(
        ctx, ekd_conv2d_winograd_s8_scratch_size(input_dims, filter_dims, output_dims));
}

/* The residual ADD over one chunk of channels of a pass: conv[(a * EKD_WINOGRAD_PASS_W + x)
 * * channels + k] is channel c0 + k of the pass's pixel (row a, column x) (`rows` x
 * `pixels` of them, `channels` per pixel); `out` and `res` at the pass's first pixel,
 * channel 0. Apart from the convolution's loop, whose registers it would otherwise take. */
EKD_WINO_NOINLINE void ekd_winograd_residual(const ekd_add_prepared *add, const int8_t *conv,
                                             int32_t rows, int32_t pixels, int32_t channels,
                                             int32_t c0, int32_t out_w, int32_t out_c,
                                             int8_t *out, const int8_t *res)
{
    const size_t row_bytes = (size_t)out_w * (size_t)out_c;
    int32_t a, x;
    for (a = 0; a < rows; ++a) {
        const int8_t *const row = conv + a * EKD_WINOGRAD_PASS_W * channels;
        int8_t *const out_row = out + (size_t)a * row_bytes;
        const int8_t *const res_row = res + (size_t)a * row_bytes;
        if (channels == out_c) {
            /* Every channel (c0 is 0): the row's pixels are one run in the output too. */
            ekd_add_run(add, row, res_row, out_row, pixels * out_c);
        } else {
            for (x = 0; x < pixels; ++x) {
                const size_t i = (size_t)x * (size_t)out_c + (size_t)c0;
                ekd_add_run(add, row + x * channels, res_row + i, out_row + i, channels);
            }
        }
    }
}

/* The layer, arguments checked; `add` NULL (a constant at each call): no residual, else
 * `residual` the residual ADD's second input, the output's shape. */
EKD_WINO_ALWAYS_INLINE void ekd_winograd_layer(const ekd_context *ctx,
                                               const ekd_conv_params *params,
                                               const ekd_per_channel_quant *quant,
                                               const ekd_dims *input_dims,
                                               const int8_t *input, const int8_t *filter,
                                               const int32_t *bias,
                                               const ekd_dims *output_dims, int8_t *output,
                                               const ekd_add_prepared *add,
                                               const int8_t *residual)
{
    int32_t batch, tile_y, tile_x, in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t in_groups, out_groups, zero_point, output_offset, act_min, act_max;
    const int16_t *u = (const int16_t *)(const void *)filter;
    int16_t *v;

    in_h = input_dims->h;
    in_w = input_dims->w;
    in_c = input_dims->c;
    out_h = output_dims->h;
    out_w = output_dims->w;
    out_c = output_dims->c;
    in_groups = (in_c + 3) / 4;
    out_groups = (out_c + 3) / 4;
    zero_point = -params->input_offset;
    output_offset = params->output_offset;
    act_min = params->activation_min;
    act_max = params->activation_max;
    v = (int16_t *)ctx->buf;

    for (batch = 0; batch < output_dims->n; ++batch) {
        const int8_t *image = input + (size_t)batch * in_h * in_w * in_c;
        const size_t image_bytes = (size_t)out_h * out_w * out_c;
        int8_t *out_image = output + (size_t)batch * image_bytes;
        const int8_t *res_image = add != NULL ? residual + (size_t)batch * image_bytes : NULL;
        for (tile_y = 0; tile_y < out_h; tile_y += 2) {
            for (tile_x = 0; tile_x < out_w; tile_x += 2 * EKD_WINOGRAD_TILES) {
                int32_t x0[EKD_WINOGRAD_TILES];
                /* Tiles of this pass inside the row: the rest repeat the last one. */
                const int32_t tiles = (out_w - tile_x + 1) / 2 < EKD_WINOGRAD_TILES
                                          ? (out_w - tile_x + 1) / 2
                                          : EKD_WINOGRAD_TILES;
                /* With a residual: the chunk's conv bytes (ekd_winograd_residual). */
                int8_t conv[2 * EKD_WINOGRAD_PASS_W * EKD_WINOGRAD_ADD_CHANNELS];
                int32_t t, group;
                for (t = 0; t < EKD_WINOGRAD_TILES; ++t) {
                    /* Past the row's last tile, repeat it: the same bytes again. */
                    x0[t] = tile_x + 2 * t < out_w ? tile_x + 2 * t : x0[t - 1];
                    ekd_nn_winograd_input(v, t, image, in_h, in_w, in_c,
                                          tile_y - params->pad_h, x0[t] - params->pad_w,
                                          zero_point);
                }
                for (group = 0; group < out_groups; ++group) {
                    int32_t m[EKD_WINOGRAD_TILES][4][16];
                    /* The group's chunk: its first channel and its channel count. */
                    const int32_t c0 =
                        (group - group % (EKD_WINOGRAD_ADD_CHANNELS / 4)) * 4;
                    const int32_t channels = out_c - c0 < EKD_WINOGRAD_ADD_CHANNELS
                                                 ? out_c - c0
                                                 : EKD_WINOGRAD_ADD_CHANNELS;
                    int32_t r;
                    ekd_nn_winograd_multiply(u, out_groups, group, in_groups, v, m);
                    for (r = 0; r < 4 && 4 * group + r < out_c; ++r) {
                        const int32_t c = 4 * group + r;
                        const ekd_requant_channel rq = ekd_requant_channel_at(quant, c);
                        /* The repeated tile is not stored again (without a residual
                         * the constant bound is the faster loop). */
                        for (t = 0; t < (add != NULL ? tiles : EKD_WINOGRAD_TILES); ++t) {
                            int32_t y[2][2];
                            int32_t a, b;
                            ekd_winograd_output(m[t][r], y);
                            for (a = 0; a < 2 && tile_y + a < out_h; ++a) {
                                for (b = 0; b < 2 && x0[t] + b < out_w; ++b) {
                                    const int32_t acc =
                                        ekd_wrapping_add_s32(y[a][b], bias[c]);
                                    const int8_t value = ekd_requantize_output(
                                        acc, rq, output_offset, act_min, act_max);
                                    if (add != NULL) {
                                        conv[(a * EKD_WINOGRAD_PASS_W + 2 * t + b) *
                                                 channels + (c - c0)] = value;
                                    } else {
                                        out_image[((size_t)(tile_y + a) * out_w +
                                                   (size_t)(x0[t] + b)) * out_c + c] = value;
                                    }
                                }
                            }
                        }
                    }
                    /* The chunk's last group: its ADD. */
                    if (add != NULL && (4 * group + 4 >= c0 + channels)) {
                        const size_t at =
                            ((size_t)tile_y * out_w + (size_t)tile_x) * (size_t)out_c;
                        const int32_t rows = out_h - tile_y < 2 ? out_h - tile_y : 2;
                        const int32_t pixels = out_w - tile_x < 2 * tiles ? out_w - tile_x
                                                                          : 2 * tiles;
                        ekd_winograd_residual(add, conv, rows, pixels, channels, c0, out_w,
                                              out_c, out_image + at, res_image + at);
                    }
                }
            }
        }
    }
}

ekd_status ekd_conv2d_winograd_s8(const ekd_context *ctx, const ekd_conv_params *params,
                                  const ekd_per_channel_quant *quant,
                                  const ekd_dims *input_dims, const int8_t *input,
                                  const ekd_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias,
                                  const ekd_dims *output_dims, int8_t *output)
{
    const ekd_status status =
        ekd_winograd_validate(ctx, params, quant, input_dims, input, filter_dims, filter,
                              bias, output_dims, output, NULL, 0);
    if (status != EKD_OK) {
        return status;
    }
    ekd_winograd_layer(ctx, params, quant, input_dims, input, filter, bias, output_dims,
                       output, NULL, NULL);
    return EKD_OK;
}

ekd_status ekd_conv2d_winograd_add_s8(const ekd_context *ctx, const ekd_conv_params *params,
                                      const ekd_per_channel_quant *quant,
                                      const ekd_dims *input_dims, const int8_t *input,
                                      const ekd_dims *filter_dims, const int8_t *filter,
                                      const int32_t *bias,
                                      const ekd_dims *output_dims, int8_t *output,
                                      const ekd_residual *residual)
{
    ekd_add_prepared add;
    const ekd_status status =
        ekd_winograd_validate(ctx, params, quant, input_dims, input, filter_dims, filter,
                              bias, output_dims, output, residual, 1);
    if (status != EKD_OK) {
        return status;
    }
    ekd_add_prepare_run(&add, residual->params);
    ekd_winograd_layer(ctx, params, quant, input_dims, input, filter, bias, output_dims,
                       output, &add, residual->input);
    return EKD_OK;
}
