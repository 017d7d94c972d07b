"""TFLite's fixed-point requantization, exactly.

A real multiplier M is stored as (multiplier, shift) with M ~= multiplier * 2^(shift - 31),
multiplier a Q31 value in [2^30, 2^31). TFLM applies it to an int32 accumulator as
``MultiplyByQuantizedMultiplier``: a saturating rounding doubling high multiply followed by a
rounding right shift (two roundings; TFLM is built without TFLITE_SINGLE_ROUNDING).

All array functions take and return int64 numpy arrays holding int32 values, so that the
intermediate products cannot overflow in numpy.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(multiplier, shift) of a real multiplier, as tflite::QuantizeMultiplier computes it."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)  # real = fraction * 2^shift, fraction in [0.5, 1)
    q = round_half_away(fraction * (1 << 31))
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:  # too small to represent: the product is zero
        return 0, 0
    return int(q), int(shift)


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    """As QuantizeMultiplierSmallerThanOneExp: requires 0 < real < 1, shift <= 0."""
    if not 0.0 < real < 1.0:
        raise ValueError(f"multiplier {real} is not in (0, 1)")
    return quantize_multiplier(real)


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """As QuantizeMultiplierGreaterThanOne: requires real > 1, shift >= 0."""
    if not real > 1.0:
        raise ValueError(f"multiplier {real} is not > 1")
    return quantize_multiplier(real)


def round_half_away(x: float) -> int:
    """C's round(): halves go away from zero (Python's round() goes to even)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32 values (elementwise)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b  # |ab| <= 2^62: exact in int64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    # C's integer division truncates toward zero; numpy's // floors, so divide magnitudes.
    total = ab + nudge
    high = np.sign(total) * (np.abs(total) >> 31)
    return np.where(overflow, INT32_MAX, high).astype(np.int64)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: x / 2^exponent, rounding halves away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """TFLM's MultiplyByQuantizedMultiplier (double rounding) on int32 accumulators.

    ``multiplier`` and ``shift`` broadcast against ``x`` (per-channel: last axis).
    """
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    # x * 2^left wraps like C's int32 multiply would not (UB there); TFLite never exceeds int32.
    shifted = x * (np.int64(1) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def activation_range(activation: str, scale: float, zero_point: int,
                     qmin: int = -128, qmax: int = 127) -> tuple[int, int]:
    """Clamp range of a fused activation, as CalculateActivationRangeQuantized computes it."""
    def quantize(value: float) -> int:
        return zero_point + round_half_away(value / scale)

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    raise ValueError(f"unknown activation {activation!r}")
