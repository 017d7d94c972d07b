"""ADD int8 reference (same shapes, no broadcasting), as TFLM's reference_integer_ops::Add."""
from __future__ import annotations

import numpy as np

from edgekd.reference.params import AddParams
from edgekd.reference.requantize import multiply_by_quantized_multiplier


def add(p: AddParams, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """Both inputs rescaled to a common scale with ``left_shift`` bits of headroom, summed,
    rescaled to the output scale, offset and clamped."""
    def rescale(x: np.ndarray, offset: int, multiplier: int, shift: int) -> np.ndarray:
        shifted = (x.astype(np.int64) + offset) << p.left_shift
        return multiply_by_quantized_multiplier(shifted, multiplier, shift)

    total = (rescale(x1, p.input1_offset, p.input1_multiplier, p.input1_shift)
             + rescale(x2, p.input2_offset, p.input2_multiplier, p.input2_shift))
    out = multiply_by_quantized_multiplier(total, p.output_multiplier, p.output_shift)
    return np.clip(out + p.output_offset, p.activation_min, p.activation_max).astype(np.int8)
