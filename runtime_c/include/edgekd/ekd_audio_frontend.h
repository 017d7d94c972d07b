/*
 * edgekd audio front end: 16 kHz int16 audio -> int8 log-mel features, in integer
 * arithmetic only (no floats, no malloc, no state), bit-exact with the numpy spec
 * edgekd/audio/frontend.py, which documents every step: Hann window (30 ms every 20 ms),
 * block normalization, 512-point fixed-point FFT, power, 40 mel filters (125-7500 Hz),
 * log2 in Q16, and round(8 * (log2 - 25)) as int8 (feature q stands for
 * log2(energy) - 25 = q / 8: a network input of scale 1/8, zero point 0).
 */
#ifndef EDGEKD_EKD_AUDIO_FRONTEND_H
#define EDGEKD_EKD_AUDIO_FRONTEND_H

#include <stdint.h>

#define EKD_AUDIO_SAMPLE_RATE 16000
#define EKD_AUDIO_FRAME_LENGTH 480
#define EKD_AUDIO_FRAME_STEP 320
#define EKD_AUDIO_FFT_SIZE 512
#define EKD_AUDIO_MEL_CHANNELS 40
/* Frames in n samples: 49 in one second. */
#define EKD_AUDIO_NUM_FRAMES(n) ((n) < 480 ? 0 : 1 + ((n) - 480) / 320)

#ifdef __cplusplus
extern "C" {
#endif

/* The FFT's working memory (2 KB), owned by the caller: on the stack, static or in the
 * model's arena when the network is not running. */
typedef struct {
    int16_t re[512];
    int16_t im[512];
} ekd_audio_scratch;

/* One frame: EKD_AUDIO_FRAME_LENGTH samples -> EKD_AUDIO_MEL_CHANNELS features. A streaming
 * caller keeps the last 480 samples and calls this every 320 new ones. */
void ekd_audio_frame_features(const int16_t *samples, ekd_audio_scratch *scratch,
                              int8_t *features);

/* Every whole frame of a buffer: writes EKD_AUDIO_NUM_FRAMES(num_samples) rows of
 * EKD_AUDIO_MEL_CHANNELS features, frame after frame, and returns that frame count
 * (0 when num_samples is below one frame). */
int32_t ekd_audio_features(const int16_t *audio, int32_t num_samples, ekd_audio_scratch *scratch,
                           int8_t *features);

#ifdef __cplusplus
}
#endif

#endif /* EDGEKD_EKD_AUDIO_FRONTEND_H */
