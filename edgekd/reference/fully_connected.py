"""FULLY_CONNECTED int8 reference, as TFLM's reference_integer_ops::FullyConnected
(per-tensor weights) and FullyConnectedPerChannel (whose weight zero point is 0)."""
from __future__ import annotations

import numpy as np

from edgekd.reference.params import FullyConnectedParams
from edgekd.reference.requantize import requantize_to_int8


def fully_connected(p: FullyConnectedParams, x: np.ndarray, w: np.ndarray,
                    bias: np.ndarray | None, out_shape: tuple[int, ...]) -> np.ndarray:
    """int8 ``x`` (any shape; rows of ``w.shape[1]`` values) times int8 ``w`` [out, in]."""
    rows = x.reshape(-1, w.shape[1]).astype(np.float64) + p.input_offset
    weights = w.astype(np.float64) + p.filter_offset
    acc = (rows @ weights.T).astype(np.int64)  # exact in float64, see conv.py
    out = requantize_to_int8(acc, bias, p.multiplier, p.shift, p.output_offset,
                             p.activation_min, p.activation_max)
    return out.reshape(out_shape)
