"""Background noise for keyword spotting clips and the mixing of a word into a 1 s clip.

Noise kinds: white, pink (power 1/f), brown (power 1/f^2), babble (six or more talkers
summed, from a bank synthesized per split). Everything is float64 numpy driven by a
numpy Generator, so a clip is a pure function of its parameters and seed.
"""
from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # 1 s
NOISE_KINDS = ("white", "pink", "brown", "babble")
SNR_DB = (-5, 0, 5, 10, 15, 20)
_LOWEST_HZ = 20.0  # brown and pink noise below this are flattened: no DC drift


def colored_noise(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    """Unit-RMS white, pink or brown noise: white noise shaped in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE), _LOWEST_HZ)
    exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[kind]  # amplitude ~ f^-exponent
    spectrum *= freqs ** -exponent
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / max(np.sqrt(np.mean(noise ** 2)), 1e-12)


def babble_slice(rng: np.random.Generator, bank: np.ndarray, n: int) -> np.ndarray:
    """A random n-sample window of a random babble track, unit RMS."""
    track = bank[rng.integers(len(bank))].astype(np.float64)
    start = rng.integers(0, len(track) - n + 1)
    noise = track[start:start + n]
    return noise / max(np.sqrt(np.mean(noise ** 2)), 1e-12)


def noise_clip(rng: np.random.Generator, kind: str, babble_bank: np.ndarray | None,
               n: int = CLIP_SAMPLES) -> np.ndarray:
    if kind == "babble":
        if babble_bank is None or len(babble_bank) == 0:
            raise ValueError("babble noise needs a babble bank")
        return babble_slice(rng, babble_bank, n)
    return colored_noise(rng, kind, n)


def mix(speech: np.ndarray, position: int, noise: np.ndarray, snr_db: float,
        level_dbfs: float) -> np.ndarray:
    """The word `speech` (int16, already trimmed) placed at `position` in a 1 s clip over
    unit-RMS `noise` at `snr_db` (speech power measured over the word itself), the whole
    scaled to an RMS of `level_dbfs` and rounded to int16 (saturating). Empty speech gives
    a silence clip: noise alone at the level."""
    clip = np.zeros(CLIP_SAMPLES, np.float64)
    if len(speech):
        word = speech.astype(np.float64)[:CLIP_SAMPLES - position]
        clip[position:position + len(word)] = word
        speech_rms = np.sqrt(np.mean(word ** 2))
        clip += noise * speech_rms * 10.0 ** (-snr_db / 20.0)
    else:
        clip += noise
    rms = np.sqrt(np.mean(clip ** 2))
    clip *= 32768.0 * 10.0 ** (level_dbfs / 20.0) / max(rms, 1e-12)
    return np.clip(np.rint(clip), -32768, 32767).astype(np.int16)
