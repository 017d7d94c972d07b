"""The fixed-point front end: the C runtime equals the numpy spec byte for byte on the host,
and the spec itself behaves as a log-mel spectrum should."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.audio import c_tables, frontend


@st.composite
def audio_cases(draw):
    """Random audio of random length and character: noise at any level (down to single-LSB
    noise), full-scale square waves (the saturating extremes), tones, digital silence."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    length = draw(st.sampled_from([0, 479, 480, 800, 1000, 16000]))
    kind = draw(st.sampled_from(["noise", "square", "tone", "zeros"]))
    level = draw(st.sampled_from([1, 3, 100, 3000, 20000, 32767]))
    t = np.arange(length)
    if kind == "noise":
        audio = rng.standard_normal(length) * level
    elif kind == "square":
        audio = np.where((t // rng.integers(1, 50)) % 2, 32767, -32768)
    elif kind == "tone":
        audio = level * np.sin(2 * np.pi * rng.uniform(20, 8000) * t / 16000)
    else:
        audio = np.zeros(length)
    return np.clip(np.rint(audio), -32768, 32767).astype(np.int16)


@settings(max_examples=60)
@given(audio_cases())
def test_c_equals_spec_bytewise(host_frontend, audio):
    expected = frontend.features(audio)
    got = host_frontend.features(audio)
    assert got.shape == expected.shape
    assert got.tobytes() == expected.tobytes(), \
        f"first mismatch at {np.argwhere(got != expected)[0]} of {got.shape}"


def test_committed_tables_match_the_spec():
    assert c_tables.HEADER.read_text() == c_tables.render(), \
        "run python -m edgekd.audio.c_tables after changing edgekd/audio/frontend.py"


def test_one_second_is_49_frames_of_40():
    assert frontend.features(np.zeros(16000, np.int16)).shape == (49, 40)
    assert frontend.features(np.zeros((3, 16000), np.int16)).shape == (3, 49, 40)


def test_fft_is_dft_over_512_within_rounding():
    rng = np.random.default_rng(0)
    x = rng.integers(-16383, 16384, (8, 480))
    re, im = frontend.fft_q15(x)
    exact = np.fft.fft(np.pad(x, ((0, 0), (0, 32))).astype(np.float64), axis=1) / 512
    assert np.abs(re - exact.real).max() <= 4 and np.abs(im - exact.imag).max() <= 4


def test_log2_q16_within_its_rounding():
    """Bounded by the 16-bit mantissa cut (2^-16 / ln 2), the Q16 rounding and the chord of
    a 1/256 table step: 5e-5 of a log2 unit, 1/5000 of a feature step."""
    rng = np.random.default_rng(1)
    x = np.concatenate([np.arange(1, 2000), rng.integers(1, 2 ** 62, 5000)]).astype(np.uint64)
    error = frontend.log2_q16(x) / 65536 - np.log2(x.astype(np.float64))
    assert np.abs(error).max() < 5e-5


def test_a_tone_lights_the_channel_of_its_frequency():
    centers = frontend.mel_weights_q15().argmax(axis=1) * 16000 / 512
    for hz in (300.0, 1000.0, 4000.0):
        tone = (8000 * np.sin(2 * np.pi * hz * np.arange(16000) / 16000)).astype(np.int16)
        loudest = int(np.bincount(frontend.features(tone).argmax(axis=1)).argmax())
        assert abs(centers[loudest] - hz) <= 0.15 * hz + 32, (hz, centers[loudest])


def test_features_track_level_in_quarter_log2_steps():
    """Halving the amplitude lowers every channel's energy by 2 log2 units: 16 feature steps,
    whatever the block normalization did."""
    rng = np.random.default_rng(2)
    loud = np.rint(rng.standard_normal(16000) * 4000).astype(np.int16)
    quiet = (loud // 2).astype(np.int16)
    drop = frontend.features(loud).astype(int) - frontend.features(quiet).astype(int)
    assert abs(np.median(drop) - 16) <= 1


def test_fixed_point_tracks_the_float_front_end():
    """On speech-like levels the integer features sit within a step or two of the float
    ones; the rounding that remains is the FFT's, at the quiet end of each frame."""
    from edgekd.audio import float_frontend

    rng = np.random.default_rng(3)
    for level in (30, 1000, 20000):
        audio = np.rint(rng.standard_normal(16000) * level).astype(np.int16)
        exact = np.clip(float_frontend.features(audio), -128, 127)
        error = frontend.features(audio).astype(np.float64) - exact
        assert np.median(np.abs(error)) <= 1.0 and np.abs(error).max() <= 4.0, level
