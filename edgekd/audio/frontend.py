"""The fixed-point log-mel front end, the numpy spec the C runtime matches byte for byte.

1 s of 16 kHz int16 audio becomes 49 frames x 40 int8 log-mel features, in integer
arithmetic only (the C version has no floats and no malloc):

1. window: 30 ms (480 samples) every 20 ms, times a periodic Hann window in Q15, rounded;
2. block normalization: the frame is shifted left until its peak has 14 significant bits
   (or right by one when it has 15), so quiet frames keep their precision in the FFT; the
   shift is undone in the log domain (step 6);
3. FFT: 512-point radix-2 decimation-in-time on int16 values (zero-padded), Q15 twiddles,
   each butterfly product rounded, each stage halved with rounding: the result is DFT/512,
   and a stage can never overflow because magnitudes never grow;
4. power: re^2 + im^2 of bins 0..256 (< 2^30);
5. mel filterbank: 40 triangular filters on the mel scale from 125 to 7500 Hz (Q15 weights),
   accumulated in 64 bits;
6. log: log2(energy + 1) in Q16 from the leading-one position and a 257-entry table with
   linear interpolation, minus 2 * shift (the normalization's gain on the power);
7. output: round(8 * (log2 - 25)), clamped to int8: a feature step is 0.375 dB, and feature
   q stands for log2(energy) - 25 = q / 8, so a network whose int8 input has scale 1/8 and
   zero point 0 (FEATURE_SCALE, FEATURE_ZERO_POINT) takes the features as they are. The
   offset puts the int8 range where speech is: log2 energies of 9..41 (1 s clips at any
   level; digital silence, log2 0, clamps to -128).

Integer semantics: >> on negative values is arithmetic (floor), as GCC and Clang do on every
board. The constants below are computed once in floating point here; the C code gets them as
tables (c_tables.py), so the float functions never run on the device.
"""
from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
FRAME_LENGTH = 480  # 30 ms
FRAME_STEP = 320  # 20 ms
FFT_SIZE = 512
FFT_STAGES = 9
SPECTRUM_BINS = FFT_SIZE // 2 + 1
MEL_CHANNELS = 40
LOWER_HZ, UPPER_HZ = 125.0, 7500.0
NORMALIZED_BITS = 14  # a frame's peak after block normalization is below 2^14
LOG_TABLE_BITS = 8  # log2(1 + i / 256) tabulated, linear in between
LOG_FRACTION_BITS = 16
FEATURE_STEPS_PER_LOG2 = 8
LOG2_OFFSET = 25  # feature 0 is log2(energy) = 25
FEATURE_SCALE = 1 / FEATURE_STEPS_PER_LOG2  # feature q means log2(energy) - 25 = q * FEATURE_SCALE
FEATURE_ZERO_POINT = 0


def num_frames(num_samples: int) -> int:
    return 0 if num_samples < FRAME_LENGTH else 1 + (num_samples - FRAME_LENGTH) // FRAME_STEP


# ---------------------------------------------------------------- constants (tables)

def hann_window_q15() -> np.ndarray:
    i = np.arange(FRAME_LENGTH)
    return np.round(32767 * 0.5 * (1 - np.cos(2 * np.pi * i / FRAME_LENGTH))).astype(np.int16)


def twiddles_q15() -> tuple[np.ndarray, np.ndarray]:
    """cos and -sin of 2 pi k / 512 for k < 256, Q15 (e^{-i theta}: the forward DFT)."""
    theta = 2 * np.pi * np.arange(FFT_SIZE // 2) / FFT_SIZE
    return (np.round(32767 * np.cos(theta)).astype(np.int16),
            np.round(-32767 * np.sin(theta)).astype(np.int16))


def _mel(hz):
    return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


def mel_weights_q15() -> np.ndarray:
    """MEL_CHANNELS x SPECTRUM_BINS triangular weights, Q15 (uint16 values <= 32767)."""
    edges = np.linspace(_mel(LOWER_HZ), _mel(UPPER_HZ), MEL_CHANNELS + 2)
    bin_mel = _mel(np.arange(SPECTRUM_BINS) * SAMPLE_RATE / FFT_SIZE)
    rising = (bin_mel[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    falling = (edges[2:, None] - bin_mel[None, :]) / (edges[2:, None] - edges[1:-1, None])
    return np.round(32767 * np.clip(np.minimum(rising, falling), 0, None)).astype(np.int64)


def mel_bands() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The filterbank as C stores it: first bin and bin count per channel, and the weights
    of all channels' nonzero spans one after another."""
    weights = mel_weights_q15()
    first, count, flat = [], [], []
    for row in weights:
        nonzero = np.flatnonzero(row)
        lo, hi = int(nonzero[0]), int(nonzero[-1]) + 1
        first.append(lo)
        count.append(hi - lo)
        flat.extend(row[lo:hi])
    return (np.array(first, np.uint16), np.array(count, np.uint16), np.array(flat, np.uint16))


def log2_table_q16() -> np.ndarray:
    i = np.arange((1 << LOG_TABLE_BITS) + 1)
    return np.round(np.log2(1 + i / (1 << LOG_TABLE_BITS)) * (1 << LOG_FRACTION_BITS)).astype(np.int64)


_WINDOW = hann_window_q15().astype(np.int64)
_TWIDDLE_RE, _TWIDDLE_IM = (t.astype(np.int64) for t in twiddles_q15())
_MEL = mel_weights_q15().astype(np.uint64)
_LOG2 = log2_table_q16()
_BIT_REVERSE = np.array([int(f"{i:0{FFT_STAGES}b}"[::-1], 2) for i in range(FFT_SIZE)])


# ---------------------------------------------------------------- the pipeline

def features(audio: np.ndarray) -> np.ndarray:
    """int16 audio (..., samples) -> int8 features (..., frames, MEL_CHANNELS)."""
    audio = np.asarray(audio)
    if audio.dtype != np.int16:
        raise TypeError(f"audio must be int16, got {audio.dtype}")
    frames = frame(audio)
    lead = frames.shape[:-1]
    flat = frames.reshape(-1, FRAME_LENGTH)
    return frame_features(flat).reshape(*lead, MEL_CHANNELS)


def frame(audio: np.ndarray) -> np.ndarray:
    """(..., samples) -> (..., frames, FRAME_LENGTH) overlapping frames."""
    n = num_frames(audio.shape[-1])
    starts = np.arange(n) * FRAME_STEP
    return audio[..., starts[:, None] + np.arange(FRAME_LENGTH)]


def frame_features(frames: np.ndarray) -> np.ndarray:
    """(n, FRAME_LENGTH) int16 frames -> (n, MEL_CHANNELS) int8, steps 1-7."""
    if len(frames) == 0:
        return np.zeros((0, MEL_CHANNELS), np.int8)
    windowed = (frames.astype(np.int64) * _WINDOW + (1 << 14)) >> 15
    normalized, shift = block_normalize(windowed)
    re, im = fft_q15(normalized)
    power = re[:, :SPECTRUM_BINS] ** 2 + im[:, :SPECTRUM_BINS] ** 2
    energy = power.astype(np.uint64) @ _MEL.T  # exact: sums stay below 2^50
    log2 = log2_q16(energy + np.uint64(1)) - 2 * shift[:, None] * (1 << LOG_FRACTION_BITS)
    return quantize_log2(log2)


def block_normalize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift each row so its peak magnitude has NORMALIZED_BITS bits: (rows, shift per row);
    a negative shift is a floor shift right. An all-zero row keeps shift 0."""
    peak = np.abs(x).max(axis=-1)
    bits = np.zeros_like(peak)
    nonzero = peak > 0
    bits[nonzero] = np.floor(np.log2(peak[nonzero])).astype(np.int64) + 1  # peak < 2^15: exact
    shift = np.where(nonzero, NORMALIZED_BITS - bits, 0)
    left = np.maximum(shift, 0)[:, None]
    right = np.maximum(-shift, 0)[:, None]
    return (x << left) >> right, shift


def fft_q15(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point 512-point FFT of real rows (zero-padded), each stage halved: DFT / 512."""
    rows = x.shape[0]
    re = np.zeros((rows, FFT_SIZE), np.int64)
    re[:, :x.shape[1]] = x
    re = re[:, _BIT_REVERSE]
    im = np.zeros_like(re)
    for stage in range(FFT_STAGES):
        half = 1 << stage
        stride = FFT_SIZE // (2 * half)  # twiddle index step
        w_re = _TWIDDLE_RE[np.arange(half) * stride]
        w_im = _TWIDDLE_IM[np.arange(half) * stride]
        re4 = re.reshape(rows, -1, 2, half)
        im4 = im.reshape(rows, -1, 2, half)
        a_re, a_im, b_re, b_im = re4[:, :, 0], im4[:, :, 0], re4[:, :, 1], im4[:, :, 1]
        t_re = (b_re * w_re - b_im * w_im + (1 << 14)) >> 15
        t_im = (b_re * w_im + b_im * w_re + (1 << 14)) >> 15
        re = np.stack([(a_re + t_re + 1) >> 1, (a_re - t_re + 1) >> 1], axis=2).reshape(rows, -1)
        im = np.stack([(a_im + t_im + 1) >> 1, (a_im - t_im + 1) >> 1], axis=2).reshape(rows, -1)
    return re, im


def log2_q16(x: np.ndarray) -> np.ndarray:
    """log2 of uint64 values >= 1 in Q16 (int64): leading-one position plus the table."""
    x = np.asarray(x, np.uint64)
    exponent = _bit_length(x) - 1
    up = np.maximum(LOG_FRACTION_BITS - exponent, 0).astype(np.uint64)
    down = np.maximum(exponent - LOG_FRACTION_BITS, 0).astype(np.uint64)
    mantissa = (((x << up) >> down) & np.uint64(0xFFFF)).astype(np.int64)
    index = mantissa >> (LOG_FRACTION_BITS - LOG_TABLE_BITS)
    rest = mantissa & ((1 << (LOG_FRACTION_BITS - LOG_TABLE_BITS)) - 1)
    low, high = _LOG2[index], _LOG2[index + 1]
    fraction = low + (((high - low) * rest + (1 << 7)) >> 8)
    return (exponent << LOG_FRACTION_BITS) + fraction


def _bit_length(x: np.ndarray) -> np.ndarray:
    """Position of the leading one plus one, exactly, for uint64 (float log2 would round)."""
    bits = np.zeros(x.shape, np.int64)
    rest = x.copy()
    for step in (32, 16, 8, 4, 2, 1):
        big = rest >= (np.uint64(1) << np.uint64(step))
        bits += np.where(big, step, 0)
        rest = np.where(big, rest >> np.uint64(step), rest)
    return bits + (rest > 0)


def quantize_log2(log2_q16: np.ndarray) -> np.ndarray:
    """round(8 * log2) - 200, clamped to int8."""
    eighths = (log2_q16 + (1 << (LOG_FRACTION_BITS - 4))) >> (LOG_FRACTION_BITS - 3)
    return np.clip(eighths - LOG2_OFFSET * FEATURE_STEPS_PER_LOG2, -128, 127).astype(np.int8)
