"""QUANTIZE (float32 -> int8) and DEQUANTIZE (int8 -> float32) at the model boundary, as
TFLM's reference_ops::AffineQuantize and reference_ops::Dequantize, and REQUANTIZE (TFLite's
QUANTIZE with an integer input) as reference_ops::Requantize."""
from __future__ import annotations

import numpy as np

from edgekd.reference.params import QuantizeParams


def quantize(p: QuantizeParams, x: np.ndarray) -> np.ndarray:
    """round(x / scale) + zero_point, clamped to int8.

    The division is float32 (as TFLM), the rounding half away from zero. Where TFLM's
    float-to-int32 cast is undefined the result is defined here as: values beyond the
    int8 range saturate, NaN maps to the zero point.
    """
    scaled = (np.asarray(x, dtype=np.float32) / np.float32(p.scale)).astype(np.float64)
    # NaN to the zero point; infinities to values that saturate all the same.
    scaled = np.clip(np.nan_to_num(scaled, nan=0.0), -1e10, 1e10)
    whole = np.trunc(scaled)
    # The fractional part of a float is exact; C's round() takes halves away from zero.
    rounded = whole + np.where(np.abs(scaled - whole) >= 0.5, np.sign(scaled), 0.0)
    return np.clip(rounded + p.zero_point, -128, 127).astype(np.int8)


def dequantize(p: QuantizeParams, x: np.ndarray) -> np.ndarray:
    """scale * (x - zero_point) as float32 (the double product is exact; one rounding)."""
    centered = np.asarray(x, dtype=np.int64) - p.zero_point
    return (np.float64(np.float32(p.scale)) * centered).astype(np.float32)
