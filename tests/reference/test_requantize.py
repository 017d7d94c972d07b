"""TFLite's multiplier quantization and gemmlowp's rounding arithmetic.

Known values come from TFLite's quantization_util_test.cc; the array functions are checked
against scalar big-integer versions written from gemmlowp's definitions, which exercises
the numpy sign handling (truncating division, masks of negative numbers) they rely on.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.reference.requantize import (
    INT32_MAX,
    INT32_MIN,
    activation_range,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    quantize_multiplier_greater_than_one,
    quantize_multiplier_smaller_than_one,
    requantize_to_int8,
    round_half_away,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    wrap_int32,
)

int32s = st.integers(INT32_MIN, INT32_MAX)
q31_multipliers = st.integers(1 << 30, INT32_MAX)


# --- QuantizeMultiplier: TFLite's test vectors -------------------------------------------

@pytest.mark.parametrize("real, expected", [
    (-4, (-1073741824, 3)), (-2, (-1073741824, 2)), (-1, (-1073741824, 1)),
    (-0.5, (-1073741824, 0)), (-0.25, (-1073741824, -1)), (-0.125, (-1073741824, -2)),
    (0, (0, 0)), (0.125, (1073741824, -2)), (0.25, (1073741824, -1)),
    (0.5, (1073741824, 0)), (1, (1073741824, 1)), (2, (1073741824, 2)),
    (4, (1073741824, 3)),
    # Underflow: shifts below -31 flush to zero.
    (2.0 ** -31, (1073741824, -30)), (2.0 ** -32, (1073741824, -31)),
    (float(np.float32(0.99)) * 2.0 ** -32, (0, 0)), (2.0 ** -33, (0, 0)),
])
def test_quantize_multiplier_tflite_vectors(real, expected):
    assert quantize_multiplier(real) == expected


@pytest.mark.parametrize("real, expected", [
    (0.25, (1073741824, -1)),
    (0.50 - 5e-9, (2147483627, -1)),
    (0.50 - 1e-10, (1073741824, 0)),  # rounds up to 2^31: halved, exponent + 1
    (0.50, (1073741824, 0)),
    (0.75, (1610612736, 0)),
    (1 - 1e-9, (2147483646, 0)),
])
def test_quantize_multiplier_smaller_than_one_vectors(real, expected):
    assert quantize_multiplier_smaller_than_one(real) == expected


@pytest.mark.parametrize("real", [-0.1, 0.0, 1 - 1e-15, 1 - 1e-17, 1.0])
def test_quantize_multiplier_smaller_than_one_rejects(real):
    # TFLite CHECK-fails on these: out of range, or rounding pushes the shift above 0.
    with pytest.raises(ValueError):
        quantize_multiplier_smaller_than_one(real)


@pytest.mark.parametrize("real, expected", [
    (1 + 1e-11, (1073741824, 1)), (1.25, (1342177280, 1)), (1.50, (1610612736, 1)),
    (1.75, (1879048192, 1)), (2 - 1e-9, (2147483647, 1)), (2 - 1e-11, (1073741824, 2)),
    (2, (1073741824, 2)),
])
def test_quantize_multiplier_greater_than_one_vectors(real, expected):
    assert quantize_multiplier_greater_than_one(real) == expected


def test_quantize_multiplier_greater_than_one_rejects_one():
    with pytest.raises(ValueError):
        quantize_multiplier_greater_than_one(1 + 1e-16)  # == 1.0 in double


@given(st.floats(2.0 ** -31, 2.0 ** 20, allow_nan=False))
@settings(max_examples=300)
def test_quantize_multiplier_is_accurate(real):
    multiplier, shift = quantize_multiplier(real)
    assert 1 << 30 <= multiplier <= INT32_MAX
    assert abs(multiplier * 2.0 ** (shift - 31) - real) <= 2.0 ** (shift - 32)


# --- rounding -----------------------------------------------------------------------------

@pytest.mark.parametrize("x, expected", [
    (0.5, 1), (-0.5, -1), (1.5, 2), (2.5, 3), (-2.5, -3), (0.49999999999999994, 0),
    (-0.49999999999999994, 0), (4503599627370497.0, 4503599627370497), (0.0, 0), (-0.0, 0),
])
def test_round_half_away(x, expected):
    assert round_half_away(x) == expected


def test_wrap_int32_is_twos_complement():
    values = np.array([INT32_MAX + 1, INT32_MIN - 1, 1 << 32, -(1 << 32) + 5, 7, -7])
    assert wrap_int32(values).tolist() == [INT32_MIN, INT32_MAX, 0, 5, 7, -7]


def srdhm_scalar(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul: round-half-up of a*b / 2^31, saturating."""
    if a == b == INT32_MIN:
        return INT32_MAX
    return (a * b + (1 << 30)) >> 31  # Python's >> floors: (ab + 2^30) // 2^31


def rdbp_scalar(x: int, exponent: int) -> int:
    """RoundingDivideByPOT: x / 2^exponent rounded half away from zero."""
    q = Fraction(x, 1 << exponent)
    whole = int(abs(q))
    if abs(q) - whole >= Fraction(1, 2):
        whole += 1
    return whole if q >= 0 else -whole


def test_srdhm_saturates_only_int32_min_squared():
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX) == -INT32_MAX
    assert saturating_rounding_doubling_high_mul(INT32_MAX, INT32_MAX) == INT32_MAX - 1


@pytest.mark.parametrize("a, b, expected", [
    (3, 1 << 30, 2),      # 1.5 rounds up
    (-3, 1 << 30, -1),    # -1.5 rounds up too: the nudge is not symmetric
    (-1, 1 << 30, 0),     # -0.5 -> 0
    (1, 1 << 30, 1),      # 0.5 -> 1
    (-(1 << 30) - 1, 1, -1),
])
def test_srdhm_rounds_half_up(a, b, expected):
    assert saturating_rounding_doubling_high_mul(a, b) == expected


@given(st.lists(st.tuples(int32s, int32s), min_size=1, max_size=64))
@settings(max_examples=200)
def test_srdhm_matches_scalar_definition(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    got = saturating_rounding_doubling_high_mul(a, b)
    assert got.tolist() == [srdhm_scalar(x, y) for x, y in pairs]


@pytest.mark.parametrize("x, exponent, expected", [
    (5, 1, 3), (-5, 1, -3), (3, 1, 2), (-3, 1, -2), (1, 1, 1), (-1, 1, -1),
    (6, 2, 2), (-6, 2, -2), (5, 2, 1), (-5, 2, -1), (7, 0, 7), (INT32_MIN, 31, -1),
    (INT32_MAX, 31, 1), ((1 << 30) - 1, 31, 0),
])
def test_rounding_divide_by_pot_vectors(x, exponent, expected):
    assert rounding_divide_by_pot(x, exponent) == expected


@given(st.lists(st.tuples(int32s, st.integers(0, 31)), min_size=1, max_size=64))
@settings(max_examples=200)
def test_rounding_divide_by_pot_matches_scalar_definition(cases):
    x = np.array([c[0] for c in cases], dtype=np.int64)
    e = np.array([c[1] for c in cases], dtype=np.int64)
    assert rounding_divide_by_pot(x, e).tolist() == [rdbp_scalar(v, k) for v, k in cases]


def mbqm_scalar(x: int, multiplier: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    shifted = (x * (1 << left) + (1 << 31)) % (1 << 32) - (1 << 31)  # int32 multiply
    return rdbp_scalar(srdhm_scalar(shifted, multiplier), right)


@given(st.lists(st.tuples(int32s, q31_multipliers, st.integers(-31, 8)), min_size=1,
                max_size=64))
@settings(max_examples=200)
def test_multiply_by_quantized_multiplier_matches_scalar_definition(cases):
    x, m, s = (np.array(column, dtype=np.int64) for column in zip(*cases))
    assert multiply_by_quantized_multiplier(x, m, s).tolist() == [
        mbqm_scalar(*c) for c in cases]


@given(st.integers(-(1 << 24), 1 << 24), st.floats(2.0 ** -20, 1.0, exclude_max=True))
@settings(max_examples=300)
def test_multiply_by_quantized_multiplier_is_within_one_of_exact(x, real):
    multiplier, shift = quantize_multiplier(real)
    got = int(multiply_by_quantized_multiplier(x, multiplier, shift))
    exact = x * multiplier * 2.0 ** (shift - 31)
    assert abs(got - exact) <= 1.0  # two roundings, each at most 1/2


def test_multiply_by_quantized_multiplier_rounds_twice():
    # At 0.25, x = 1 is 0.25 exactly, yet the high multiply rounds 1/2 up to 1 and the
    # right shift rounds 1/2 away to 1 again (TFLM is built without single rounding).
    m, s = quantize_multiplier(0.25)
    got = multiply_by_quantized_multiplier(np.array([3, -3, 1, -1, 2, -2]), m, s)
    assert got.tolist() == [1, -1, 1, 0, 1, -1]


# --- activation ranges and the output stage -----------------------------------------------

@pytest.mark.parametrize("activation, scale, zp, expected", [
    ("NONE", 0.1, 0, (-128, 127)),
    ("RELU", 0.1, -20, (-20, 127)),
    ("RELU", 0.1, -128, (-128, 127)),
    ("RELU6", 0.1, -128, (-128, -68)),
    ("RELU6", 6 / 255, -128, (-128, 127)),
    ("RELU6", 0.01, 127, (127, 127)),
    ("RELU6", 0.05, 10, (10, 127)),
])
def test_activation_range(activation, scale, zp, expected):
    assert activation_range(activation, float(np.float32(scale)), zp) == expected


def test_activation_range_rejects_bounds_beyond_int32():
    with pytest.raises(ValueError, match="overflows int32"):
        activation_range("RELU6", 1e-9, 0)


def test_activation_range_divides_in_float32():
    # 6 / scale is 10.4999995 in double but exactly 10.5 in float32 for this scale (4/7),
    # so TFLM's float32 Quantize gives 11 where a double division would give 10.
    scale = float(np.float32(0.5714286))
    assert round_half_away(6.0 / scale) == 10
    assert activation_range("RELU6", scale, -128) == (-128, -128 + 11)


def test_requantize_to_int8_adds_bias_requantizes_per_channel_and_clamps():
    acc = np.array([[100, 100, -100, 10**6]])
    bias = np.array([10, -10, 0, 0])
    mult = np.array([1 << 30] * 4)  # 0.5 with shift 0
    shift = np.array([0, 0, -1, 0])  # channel 2: 0.25
    out = requantize_to_int8(acc, bias, mult, shift, output_offset=-3, activation_min=-50,
                             activation_max=100)
    assert out.dtype == np.int8
    assert out.tolist() == [[52, 42, -28, 100]]
