"""MUL, SUB, MINIMUM, MAXIMUM and PRELU on int8 with TFLite's broadcasting (numpy's rules, up to
4-D), as TFLM's reference kernels."""
from __future__ import annotations

import numpy as np

from edgekd.reference.params import AddParams, MulParams, PreluParams
from edgekd.reference.requantize import multiply_by_quantized_multiplier


def mul(p: MulParams, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """MulElementwise / BroadcastMul4DSlow: the offset product, requantized."""
    product = (x1.astype(np.int64) + p.input1_offset) * (x2.astype(np.int64) + p.input2_offset)
    out = multiply_by_quantized_multiplier(product, p.output_multiplier, p.output_shift)
    return np.clip(out + p.output_offset, p.activation_min, p.activation_max).astype(np.int8)


def sub(p: AddParams, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """SubElementwise / BroadcastQuantSubSlow: ADD's arithmetic with a difference."""
    def rescale(x: np.ndarray, offset: int, multiplier: int, shift: int) -> np.ndarray:
        shifted = (x.astype(np.int64) + offset) << p.left_shift
        return multiply_by_quantized_multiplier(shifted, multiplier, shift)

    difference = (rescale(x1, p.input1_offset, p.input1_multiplier, p.input1_shift)
                  - rescale(x2, p.input2_offset, p.input2_multiplier, p.input2_shift))
    out = multiply_by_quantized_multiplier(difference, p.output_multiplier, p.output_shift)
    return np.clip(out + p.output_offset, p.activation_min, p.activation_max).astype(np.int8)


def prelu(p: PreluParams, x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """BroadcastPrelu4DSlow: the identity rescale at or above the zero point, the offset
    product with alpha below it."""
    value = x.astype(np.int64) + p.input_offset
    value, alpha = np.broadcast_arrays(value, alpha.astype(np.int64) + p.alpha_offset)
    positive = multiply_by_quantized_multiplier(value, p.output_multiplier_1, p.output_shift_1)
    negative = multiply_by_quantized_multiplier(value * alpha, p.output_multiplier_2,
                                                p.output_shift_2)
    out = np.where(value >= 0, positive, negative) + p.output_offset
    return np.clip(out, -128, 127).astype(np.int8)


def minimum(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """The smaller code (TFLM compares codes; the IR requires one quantization)."""
    return np.minimum(x1, x2).astype(np.int8)


def maximum(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    return np.maximum(x1, x2).astype(np.int8)
