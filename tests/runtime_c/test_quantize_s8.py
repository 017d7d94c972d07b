"""ekd_quantize_f32_s8 and ekd_dequantize_s8_f32 (runtime_c/src/) against the numpy
references quantize and dequantize: int8 bytes and float32 bits must match."""
from __future__ import annotations

import numpy as np
from .ekd_strategies import kernel_settings, zero_points
from hypothesis import given
from hypothesis import strategies as st

from edgekd.reference.params import QuantizeParams
from edgekd.reference.quantize import dequantize, quantize

# Powers of two make x / scale exact, so exact halves reach the rounding step.
float32_values = st.floats(1e-4, 10.0).map(lambda s: float(np.float32(s)))
scales = st.one_of(st.sampled_from([2.0 ** e for e in range(-10, 3)]), float32_values)


@st.composite
def float_inputs(draw, scale: float) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = draw(st.integers(1, 200))
    steps = rng.integers(-600, 601, size=size) / 2.0  # integers and exact halves of a step
    values = steps * scale + rng.normal(0.0, scale, size=size) * draw(st.sampled_from([0, 1]))
    specials = np.array([np.nan, np.inf, -np.inf, 3e38, -3e38, 0.0, -0.0], dtype=np.float64)
    return np.concatenate([values, specials]).astype(np.float32)


@kernel_settings(300)
@given(data=st.data())
def test_quantize_matches_reference_bytes(runtime, data):
    p = QuantizeParams(scale=data.draw(scales), zero_point=data.draw(zero_points))
    x = data.draw(float_inputs(p.scale))
    with np.errstate(over="ignore", invalid="ignore"):  # the reference meets inf and NaN
        expected = quantize(p, x)
    actual = runtime.quantize(p, x)
    assert actual.dtype == expected.dtype == np.int8
    assert np.array_equal(actual, expected)


def test_quantize_rounds_halves_away_from_zero(runtime):
    p = QuantizeParams(scale=0.5, zero_point=0)
    x = np.array([0.25, -0.25, 0.75, -0.75, 0.2499999], dtype=np.float32)
    assert runtime.quantize(p, x).tolist() == [1, -1, 2, -2, 0]


@kernel_settings(200)
@given(scale=st.floats(1e-8, 1e4).map(lambda s: float(np.float32(s))), zero_point=zero_points)
def test_dequantize_matches_reference_bits(runtime, scale, zero_point):
    p = QuantizeParams(scale=scale, zero_point=zero_point)
    x = np.arange(-128, 128, dtype=np.int8)
    expected = dequantize(p, x)
    actual = runtime.dequantize(p, x)
    assert actual.dtype == expected.dtype == np.float32
    assert np.array_equal(actual.view(np.int32), expected.view(np.int32))
