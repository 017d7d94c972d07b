"""AVERAGE_POOL_2D and MAX_POOL_2D int8 references, as TFLM's reference_integer_ops."""
from __future__ import annotations

import numpy as np

from edgekd.reference.params import PoolParams
from edgekd.reference.windows import window_patches


def _windows(p: PoolParams, x: np.ndarray, out_shape, fill) -> np.ndarray:
    return window_patches(x, (p.filter_h, p.filter_w), (out_shape[1], out_shape[2]),
                          (p.stride_h, p.stride_w), (1, 1), (p.pad_h, p.pad_w), fill)


def average_pool(p: PoolParams, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """Mean over the window positions inside the image, rounded half away from zero."""
    total = _windows(p, x.astype(np.int64), out_shape, 0).sum(axis=(3, 4))
    inside = np.ones((1, *x.shape[1:3], 1), dtype=np.int64)
    count = _windows(p, inside, out_shape, 0).sum(axis=(3, 4))
    half = count // 2
    # (acc +- count/2) / count with C's truncating division.
    numerator = np.where(total > 0, total + half, total - half)
    mean = np.sign(numerator) * (np.abs(numerator) // count)
    return np.clip(mean, p.activation_min, p.activation_max).astype(np.int8)


def max_pool(p: PoolParams, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """Maximum over the window positions inside the image (padding never wins: -128)."""
    window_max = _windows(p, x, out_shape, np.iinfo(np.int8).min).max(axis=(3, 4))
    return np.clip(window_max, p.activation_min, p.activation_max).astype(np.int8)
