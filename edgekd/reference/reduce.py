"""MEAN, SUM, REDUCE_MAX, ARG_MAX and ARG_MIN on int8, as TFLM's reference kernels.

MEAN and SUM are TFLM's QuantizedMeanOrSum: an int32 sum (wrapping) over the reduced
axes, minus the input zero point times the count, then one requantization whose
multiplier carries the 1/count of MEAN (reference/params.py: prepare_reduce_sum).
"""
from __future__ import annotations

import numpy as np

from edgekd.reference.params import AxisParams, ReduceSumParams
from edgekd.reference.requantize import multiply_by_quantized_multiplier, wrap_int32


def reduce_sum(p: ReduceSumParams, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    total = wrap_int32(x.astype(np.int64).sum(axis=p.axis) + p.sum_bias)
    out = multiply_by_quantized_multiplier(total, p.multiplier, p.shift) + p.output_offset
    return np.clip(out, -128, 127).astype(np.int8).reshape(out_shape)


def reduce_max(p: AxisParams, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    return x.max(axis=p.axis).astype(np.int8).reshape(out_shape)


def arg_max(p: AxisParams, x: np.ndarray) -> np.ndarray:
    """The first index of the largest value along the axis (TFLM keeps the first)."""
    return x.argmax(axis=p.axis[0]).astype(np.int32)


def arg_min(p: AxisParams, x: np.ndarray) -> np.ndarray:
    return x.argmin(axis=p.axis[0]).astype(np.int32)
