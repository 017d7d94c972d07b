"""The front end in floating point: the fixed-point pipeline's steps with exact arithmetic
(float64 FFT, unquantized window and mel weights, natural log2, no normalization, no
clamping), in the same units as the int8 features (8 per log2, offset 25). Comparing a
network trained on these with one trained on the fixed-point features measures what the
integer front end costs; their difference per feature shows where it rounds."""
from __future__ import annotations

import numpy as np

from edgekd.audio import frontend as fixed


def features(audio: np.ndarray) -> np.ndarray:
    """int16 audio (..., samples) -> float32 features (..., frames, MEL_CHANNELS), unclamped."""
    audio = np.asarray(audio)
    frames = fixed.frame(audio).astype(np.float64)
    window = 0.5 * (1 - np.cos(2 * np.pi * np.arange(fixed.FRAME_LENGTH) / fixed.FRAME_LENGTH))
    spectrum = np.fft.rfft(frames * window, n=fixed.FFT_SIZE, axis=-1) / fixed.FFT_SIZE
    power = spectrum.real ** 2 + spectrum.imag ** 2
    weights = fixed.mel_weights_q15().astype(np.float64)  # the same triangles, Q15 units
    energy = power @ weights.T
    # The fixed-point path adds 1 to the block-normalized energy, which the normalization
    # (at most 13 bits: 2^26 in power) scales down: its floor is 2^-26 for quiet frames.
    log2 = np.log2(energy + 2.0 ** -26)
    return ((log2 - fixed.LOG2_OFFSET) * fixed.FEATURE_STEPS_PER_LOG2).astype(np.float32)
