/*
 * The fixed-point log-mel front end; edgekd/audio/frontend.py is its specification (same
 * steps, same rounding) and ekd_audio_frontend_tables.h its constants, rendered from that
 * spec by edgekd/audio/c_tables.py.
 */
#include "edgekd/ekd_audio_frontend.h"

#include "ekd_audio_frontend_tables.h"

#define FFT_STAGES 9
#define NORMALIZED_BITS 14
#define LOG_FRACTION_BITS 16
#define LOG_TABLE_BITS 8
#define FEATURE_OFFSET 200 /* 8 steps per log2 unit, times the log2 offset 25 */

static int32_t bit_length_u32(uint32_t x)
{
    int32_t bits = 0;
    while (x != 0u) {
        bits++;
        x >>= 1;
    }
    return bits;
}

static int32_t bit_length_u64(uint64_t x)
{
    uint32_t high = (uint32_t)(x >> 32);
    return high != 0u ? 32 + bit_length_u32(high) : bit_length_u32((uint32_t)x);
}

static uint32_t bit_reverse(uint32_t index)
{
    uint32_t reversed = 0;
    int32_t bit;
    for (bit = 0; bit < FFT_STAGES; bit++) {
        reversed = (reversed << 1) | ((index >> bit) & 1u);
    }
    return reversed;
}

/* log2(x) in Q16 for x >= 1: leading-one position plus the interpolated table. */
static int32_t log2_q16(uint64_t x)
{
    const int32_t exponent = bit_length_u64(x) - 1;
    const uint64_t aligned = exponent >= LOG_FRACTION_BITS ? x >> (exponent - LOG_FRACTION_BITS)
                                                           : x << (LOG_FRACTION_BITS - exponent);
    const int32_t mantissa = (int32_t)(aligned & 0xFFFFu);
    const int32_t index = mantissa >> (LOG_FRACTION_BITS - LOG_TABLE_BITS);
    const int32_t rest = mantissa & ((1 << (LOG_FRACTION_BITS - LOG_TABLE_BITS)) - 1);
    const int32_t low = ekd_audio_log2_q16[index];
    const int32_t high = ekd_audio_log2_q16[index + 1];
    return exponent * (1 << LOG_FRACTION_BITS) + low + (((high - low) * rest + (1 << 7)) >> 8);
}

/* Window into im[] (a staging area), then normalize into re[] in bit-reversed order;
 * returns the normalization shift (negative: one floor shift right). */
static int32_t window_and_normalize(const int16_t *samples, ekd_audio_scratch *s)
{
    int32_t i, peak = 0, shift = 0;
    for (i = 0; i < EKD_AUDIO_FRAME_LENGTH; i++) {
        const int32_t v = ((int32_t)samples[i] * ekd_audio_window_q15[i] + (1 << 14)) >> 15;
        const int32_t magnitude = v < 0 ? -v : v;
        s->im[i] = (int16_t)v;
        if (magnitude > peak) {
            peak = magnitude;
        }
    }
    if (peak > 0) {
        shift = NORMALIZED_BITS - bit_length_u32((uint32_t)peak);
    }
    for (i = 0; i < EKD_AUDIO_FFT_SIZE; i++) {
        const uint32_t source = bit_reverse((uint32_t)i);
        int32_t v = source < EKD_AUDIO_FRAME_LENGTH ? s->im[source] : 0;
        /* multiply, not <<: left-shifting a negative value is undefined in C99 */
        v = shift >= 0 ? v * (1 << shift) : v >> -shift;
        s->re[i] = (int16_t)v;
    }
    for (i = 0; i < EKD_AUDIO_FFT_SIZE; i++) {
        s->im[i] = 0;
    }
    return shift;
}

/* In-place radix-2 decimation in time; every stage halves (rounding), so values never grow. */
static void fft_q15(ekd_audio_scratch *s)
{
    int32_t half, stride, group, j;
    for (half = 1, stride = EKD_AUDIO_FFT_SIZE / 2; half < EKD_AUDIO_FFT_SIZE; half *= 2, stride /= 2) {
        for (group = 0; group < EKD_AUDIO_FFT_SIZE; group += 2 * half) {
            for (j = 0; j < half; j++) {
                const int32_t w_re = ekd_audio_twiddle_re_q15[j * stride];
                const int32_t w_im = ekd_audio_twiddle_im_q15[j * stride];
                const int32_t a = group + j, b = a + half;
                const int32_t a_re = s->re[a], a_im = s->im[a];
                const int32_t b_re = s->re[b], b_im = s->im[b];
                const int32_t t_re = (b_re * w_re - b_im * w_im + (1 << 14)) >> 15;
                const int32_t t_im = (b_re * w_im + b_im * w_re + (1 << 14)) >> 15;
                s->re[a] = (int16_t)((a_re + t_re + 1) >> 1);
                s->im[a] = (int16_t)((a_im + t_im + 1) >> 1);
                s->re[b] = (int16_t)((a_re - t_re + 1) >> 1);
                s->im[b] = (int16_t)((a_im - t_im + 1) >> 1);
            }
        }
    }
}

void ekd_audio_frame_features(const int16_t *samples, ekd_audio_scratch *scratch,
                              int8_t *features)
{
    const int32_t shift = window_and_normalize(samples, scratch);
    int32_t channel, k;
    fft_q15(scratch);
    for (channel = 0; channel < EKD_AUDIO_MEL_CHANNELS; channel++) {
        const int32_t first = ekd_audio_mel_first_bin[channel];
        const uint16_t *weight = &ekd_audio_mel_weights_q15[ekd_audio_mel_weight_offset[channel]];
        uint64_t energy = 0;
        int32_t log2, q;
        for (k = 0; k < ekd_audio_mel_bin_count[channel]; k++) {
            const int32_t re = scratch->re[first + k], im = scratch->im[first + k];
            const uint32_t power = (uint32_t)(re * re) + (uint32_t)(im * im); /* < 2^30 */
            energy += (uint64_t)power * weight[k];
        }
        log2 = log2_q16(energy + 1u) - 2 * shift * (1 << LOG_FRACTION_BITS);
        q = ((log2 + (1 << (LOG_FRACTION_BITS - 4))) >> (LOG_FRACTION_BITS - 3)) - FEATURE_OFFSET;
        features[channel] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
    }
}

int32_t ekd_audio_features(const int16_t *audio, int32_t num_samples, ekd_audio_scratch *scratch,
                           int8_t *features)
{
    const int32_t frames = EKD_AUDIO_NUM_FRAMES(num_samples);
    int32_t f;
    for (f = 0; f < frames; f++) {
        ekd_audio_frame_features(audio + f * EKD_AUDIO_FRAME_STEP, scratch,
                                 features + f * EKD_AUDIO_MEL_CHANNELS);
    }
    return frames;
}
