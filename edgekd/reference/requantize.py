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
    multiplier, shift = quantize_multiplier(real)
    if shift > 0:  # real rounded up to 1.0
        raise ValueError(f"multiplier {real} rounds to 1.0")
    return multiplier, shift


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """As QuantizeMultiplierGreaterThanOne: requires real > 1, shift >= 0."""
    if not real > 1.0:
        raise ValueError(f"multiplier {real} is not > 1")
    return quantize_multiplier(real)


def round_half_away(x: float) -> int:
    """C's round(): halves go away from zero (Python's round() goes to even)."""
    magnitude = abs(x)
    whole = math.floor(magnitude)
    # Compare the exact fractional part: floor(|x| + 0.5) misrounds 0.49999999999999994.
    if magnitude - whole >= 0.5:
        whole += 1
    return int(whole) if x >= 0 else -int(whole)


def wrap_int32(x) -> np.ndarray:
    """Two's complement wrap of int64 values to int32, as C's int32 arithmetic does on every
    target edgekd supports (signed overflow is undefined in C; the hardware wraps)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


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
    # TFLM computes x * (1 << left) in int32; valid models never overflow it, and when they
    # do the hardware wraps, so the reference wraps too. From shift 31 on the shift itself
    # is undefined in C; TFLM's host build (the oracle) takes the count modulo 32, and so
    # does edgekd everywhere (runtime_c/src/ekd_fixedpoint.h).
    left = np.maximum(shift, 0) % 32
    right = np.maximum(-shift, 0)
    shifted = wrap_int32(x * (np.int64(1) << left))
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def activation_range(activation: str, scale: float, zero_point: int,
                     qmin: int = -128, qmax: int = 127) -> tuple[int, int]:
    """Clamp range of a fused activation, as CalculateActivationRangeQuantized computes it.

    Raises ValueError where TFLM's Prepare fails: a bound that does not fit in int32.
    """
    def quantize(value: float) -> int:
        # TFLM divides in float32 (Quantize in kernel_util.cc): round(float(value) / scale).
        steps = round_half_away(float(np.float32(value) / np.float32(scale)))
        if not INT32_MIN <= steps <= INT32_MAX:
            raise ValueError(f"{activation} bound {value} at scale {scale:g} overflows int32")
        return zero_point + steps

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    raise ValueError(f"unknown activation {activation!r}")


def requantize_to_int8(acc, bias, multiplier, shift, output_offset: int,
                       activation_min: int, activation_max: int) -> np.ndarray:
    """The output stage of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.

    ``acc`` holds the int32 accumulators with channels on the last axis; ``bias`` (int32,
    per channel) may be None. As TFLM: add the bias, requantize per channel, add the output
    zero point, clamp to the activation range.
    """
    acc = np.asarray(acc, dtype=np.int64)
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)
    scaled = multiply_by_quantized_multiplier(wrap_int32(acc), multiplier, shift)
    return np.clip(scaled + output_offset, activation_min, activation_max).astype(np.int8)
