"""int8 -> int8 elementwise activations and REQUANTIZE, as TFLM's reference kernels.

Each maps one int8 code to one int8 code, so the generated C runs every one of them as
a 256-entry table computed offline from these functions (``lookup_table``; the kernel is
ekd_lut_s8): the C cannot disagree with the arithmetic here, which the per-op tests hold
to TFLM's bytes.
"""
from __future__ import annotations

import numpy as np

from edgekd.reference.params import (
    FIXED_POINT_ACTIVATION_INTEGER_BITS,
    ClampParams,
    FixedPointActivationParams,
    HardSwishParams,
    LeakyReluParams,
    RescaleParams,
)
from edgekd.reference.requantize import (
    INT32_MAX,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
)
from edgekd.reference.softmax import (
    exp_on_negative_values,
    one_minus_x_over_one_plus_x_for_x_in_0_1,
    one_over_one_plus_x_for_x_in_0_1,
)

ALL_CODES = np.arange(-128, 128, dtype=np.int8)


def lookup_table(function, p) -> np.ndarray:
    """int8 [256]: the activation's output for the input codes -128 .. 127, in order."""
    return function(p, ALL_CODES)


def rescale(p: RescaleParams, x: np.ndarray) -> np.ndarray:
    """REQUANTIZE (TFLM's Requantize) and RELU (ReluQuantized): rescale, offset, clamp."""
    out = multiply_by_quantized_multiplier(x.astype(np.int64) - p.input_zero_point,
                                           p.multiplier, p.shift) + p.output_zero_point
    return np.clip(out, p.activation_min, p.activation_max).astype(np.int8)


def clamp(p: ClampParams, x: np.ndarray) -> np.ndarray:
    """RELU6 (Relu6Quantized): the codes clamped to [zero, six]."""
    return np.clip(x, p.low, p.high).astype(np.int8)


def leaky_relu(p: LeakyReluParams, x: np.ndarray) -> np.ndarray:
    """QuantizeLeakyRelu: the identity multiplier for x >= zero point, alpha's below (a
    negative alpha multiplies by |alpha| and negates)."""
    value = x.astype(np.int64) - p.input_zero_point
    identity = multiply_by_quantized_multiplier(value, p.multiplier_identity, p.shift_identity)
    alpha = multiply_by_quantized_multiplier(value, abs(p.multiplier_alpha), p.shift_alpha)
    if p.multiplier_alpha < 0:
        alpha = -alpha
    out = p.output_zero_point + np.where(value >= 0, identity, alpha)
    return np.clip(out, -128, 127).astype(np.int8)


def _fixed_point_input(p: FixedPointActivationParams, x: np.ndarray):
    """(value, inside, input in Q4.27): the offset input and where it is inside the
    radius (outside, the output saturates)."""
    value = x.astype(np.int64) - p.input_zero_point
    inside = np.abs(value) < p.input_range_radius
    q4 = multiply_by_quantized_multiplier(np.where(inside, value, 0), p.input_multiplier,
                                          p.input_left_shift)
    return value, inside, q4


def logistic(p: FixedPointActivationParams, x: np.ndarray) -> np.ndarray:
    """reference_integer_ops::Logistic: gemmlowp's logistic on Q4.27; output scale 1/256,
    zero point -128."""
    value, inside, a = _fixed_point_input(p, x)
    positive = a > 0
    magnitude = np.where(positive, a, -a)
    if_positive = one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(-magnitude, FIXED_POINT_ACTIVATION_INTEGER_BITS))
    result = np.where(a == 0, 1 << 30,
                      np.where(positive, if_positive, INT32_MAX - if_positive))  # Q0.31
    out = np.clip(rounding_divide_by_pot(result, 31 - 8) - 128, -128, 127)
    return np.where(inside, out, np.where(value > 0, 127, -128)).astype(np.int8)


def tanh(p: FixedPointActivationParams, x: np.ndarray) -> np.ndarray:
    """reference_integer_ops::Tanh: gemmlowp's tanh on Q4.27; output scale 1/128, zero
    point 0."""
    value, inside, a = _fixed_point_input(p, x)
    negative = a < 0
    non_positive = np.where(negative, a, -a)
    # gemmlowp doubles the input by reinterpreting Q4.27 as Q5.26 (ExactMulByPot<1>).
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(non_positive, FIXED_POINT_ACTIVATION_INTEGER_BITS + 1))
    result = np.where(a == 0, 0, np.where(negative, -t, t))  # Q0.31
    out = np.clip(rounding_divide_by_pot(result, 31 - 7), -128, 127)
    return np.where(inside, out, np.where(value > 0, 127, -128)).astype(np.int8)


def _wrap16(x: np.ndarray) -> np.ndarray:
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def _rounding_doubling_high_mul16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int16 (no int8 input reaches the
    overflow case a == b == -32768: |a| <= 255 * 128)."""
    ab = a * b
    total = ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    return np.sign(total) * (np.abs(total) >> 15)  # C's division truncates


def _saturating_left_shift16(x: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(x * (1 << amount), -(1 << 15), (1 << 15) - 1)


def hard_swish(p: HardSwishParams, x: np.ndarray) -> np.ndarray:
    """reference_ops::HardSwish for int8: x * relu6(x + 3) / 6 in int16 fixed point."""
    hires = (x.astype(np.int64) - p.input_zero_point) * 128
    preshift_output = _rounding_doubling_high_mul16(hires, p.output_multiplier)
    reluish = hires
    if p.reluish_exponent > 0:
        reluish = _saturating_left_shift16(reluish, p.reluish_exponent - 1)
    reluish = _rounding_doubling_high_mul16(reluish, p.reluish_multiplier)
    if p.reluish_exponent > 0:
        reluish = _saturating_left_shift16(reluish, 1)
    if p.reluish_exponent < 0:
        reluish = rounding_divide_by_pot(reluish, -p.reluish_exponent)
    reluish = (reluish + (1 << 15)) >> 1  # [-1, 1] -> [0, 1] in Q0.15
    product = reluish * preshift_output
    preshift = np.sign(product) * (np.abs(product) >> 15)  # SaturatingDoublingHighMul
    out = _wrap16(rounding_divide_by_pot(preshift, -p.output_exponent) + p.output_zero_point)
    return np.clip(out, -128, 127).astype(np.int8)
