"""SOFTMAX int8 -> int8 over the last axis, as TFLM's reference_ops::Softmax.

The exponentials and the reciprocal are gemmlowp's fixed-point approximations
(fixedpoint.h: exp_on_negative_values, one_over_one_plus_x_for_x_in_0_1), written here on
numpy arrays of int64 holding int32 values. A fixed-point number with ``k`` integer bits is
the int32 ``raw`` with value raw / 2^(31 - k); comments name formats as Qk.(31-k).
"""
from __future__ import annotations

import numpy as np

from edgekd.reference.params import SOFTMAX_SCALED_DIFF_INTEGER_BITS, SoftmaxParams
from edgekd.reference.requantize import (
    INT32_MAX,
    INT32_MIN,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

ACCUMULATION_INTEGER_BITS = 12  # the sum of exponentials is Q12.19

_mul = saturating_rounding_doubling_high_mul  # the product of two fixed-point numbers


def saturating_shift_left(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingMultiplyByPOT for a positive exponent."""
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX,
                    np.where(x < -threshold, INT32_MIN, x << exponent))


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """exp(a) for Q0.31 ``a`` in [-1/4, 0): a Taylor expansion around -1/8; Q0.31 result."""
    exp_minus_one_eighth = 1895147668
    one_third = 715827883
    x = a + (1 << 28)  # a + 1/8
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    tail = rounding_divide_by_pot(_mul(x4_over_4 + x3, one_third) + x2, 1)
    return exp_minus_one_eighth + _mul(exp_minus_one_eighth, x + tail)


# exp(-2^k) in Q0.31 for the integer and fractional bits of a Q5.26 input, k = -2..4.
_EXP_OF_MINUS_POWERS_OF_TWO = ((-2, 1672461947), (-1, 1302514674), (0, 790015084),
                               (1, 290630308), (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a: np.ndarray,
                           integer_bits: int = SOFTMAX_SCALED_DIFF_INTEGER_BITS) -> np.ndarray:
    """exp(a) for ``a`` <= 0 with ``integer_bits`` (at most 5) integer bits; Q0.31 result
    (1.0 saturates to INT32_MAX)."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_shift_left(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = a_mod_quarter_minus_one_quarter - a
    for exponent, multiplier in _EXP_OF_MINUS_POWERS_OF_TWO:
        if integer_bits > exponent:  # gemmlowp's barrel shifter stops at the integer bits
            bit = 1 << (fractional_bits + exponent)
            result = np.where(remainder & bit, _mul(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def _newton_reciprocal_q2_29(a: np.ndarray) -> np.ndarray:
    """2 / (1 + a) in Q2.29 for Q0.31 ``a`` in [0, 1): three Newton-Raphson steps on
    gemmlowp's half denominator (the shared core of its two divisions)."""
    # gemmlowp's RoundingHalfSum(a, 1.0): (a + b) / 2 rounded half away from zero, and
    # here a + b > 0, so half up.
    half_denominator = (a + INT32_MAX + 1) >> 1
    q2_one = 1 << 29
    x = 1515870810 + _mul(half_denominator, -1010580540)  # Q2.29: 48/17 - 32/17 * d
    for _ in range(3):
        one_minus_half_denominator_times_x = q2_one - _mul(half_denominator, x)
        x = x + saturating_shift_left(_mul(x, one_minus_half_denominator_times_x), 2)
    return x


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for Q0.31 ``a`` in [0, 1); Q0.31 result."""
    return saturating_shift_left(_newton_reciprocal_q2_29(a), 1)  # x / 2 as Q1.30 -> Q0.31


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """(1 - a) / (1 + a) for Q0.31 ``a`` in [0, 1); Q0.31 result."""
    return saturating_shift_left(_newton_reciprocal_q2_29(a) - (1 << 29), 2)


def _reciprocal(total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TFLM's GetReciprocal of a positive Q12.19 sum: (Q0.31 scale, bits over unit)."""
    bit_length = np.frexp(total.astype(np.float64))[1]  # exact for int32 values
    headroom_plus_one = 32 - bit_length  # count of leading zeros of the uint32
    num_bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom_plus_one
    shifted_sum_minus_one = (total << headroom_plus_one) - (1 << 31)
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def softmax(p: SoftmaxParams, x: np.ndarray) -> np.ndarray:
    """int8 softmax along the last axis; output scale 1/256, zero point -128.

    Inputs further than ``diff_min`` below their row's maximum output -128 exactly.
    """
    values = x.astype(np.int64)
    diff = values - values.max(axis=-1, keepdims=True)
    counted = diff >= p.diff_min
    # Q5.26 scaled difference; masked entries are zeroed first so the shift cannot overflow.
    scaled_diff = _mul(np.where(counted, diff, 0) << p.input_left_shift, p.input_multiplier)
    exps = exp_on_negative_values(scaled_diff)
    exps_q12 = rounding_divide_by_pot(exps, ACCUMULATION_INTEGER_BITS)  # Q0.31 -> Q12.19
    # TFLM's int32 sum would wrap at 4096, far past 512, where TFLM already aborts (below).
    total = np.where(counted, exps_q12, 0).sum(axis=-1, keepdims=True)
    scale, num_bits_over_unit = _reciprocal(total)
    # TFLM shifts by num_bits_over_unit + 23; where that reaches 32 (sums >= 512: rows of
    # 512+ near-maximal values) gemmlowp asserts and TFLM aborts; here it is the exact
    # rounded quotient.
    unsaturated = rounding_divide_by_pot(_mul(scale, exps), num_bits_over_unit + 31 - 8)
    out = np.clip(unsaturated - 128, -128, 127)
    return np.where(counted, out, -128).astype(np.int8)
