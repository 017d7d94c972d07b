"""Layouts between channels-first formats (ONNX, torch: NCHW, OIHW) and the IR (NHWC,
TFLite weight layouts), in numpy only, so the ONNX reader and writer need no torch.

A 4-D value [N, C, H, W] is the IR tensor [N, H, W, C]; values of any other rank keep their
shape. Flattening differs between the two: NCHW flattens in (c, h, w) order, the IR in
(h, w, c) order, so a fully connected layer reading a flattened map has its weight columns
permuted (``columns_chw_to_hwc``).
"""
from __future__ import annotations

import numpy as np


def ir_shape(nchw_shape: tuple[int, ...]) -> tuple[int, ...]:
    """IR shape of a channels-first value: (N, C, H, W) -> (N, H, W, C); others unchanged."""
    if len(nchw_shape) == 4:
        n, c, h, w = nchw_shape
        return n, h, w, c
    return tuple(nchw_shape)


def nchw_shape(ir: tuple[int, ...]) -> tuple[int, ...]:
    """Inverse of ir_shape."""
    if len(ir) == 4:
        n, h, w, c = ir
        return n, c, h, w
    return tuple(ir)


def conv_weight_to_ir(weight: np.ndarray, depthwise: bool) -> np.ndarray:
    """Conv weights [out, in/groups, kh, kw] -> CONV_2D [out, kh, kw, in], or for a
    depthwise conv ([out, 1, kh, kw]) DEPTHWISE_CONV_2D [1, kh, kw, out]."""
    order = (1, 2, 3, 0) if depthwise else (0, 2, 3, 1)
    return np.ascontiguousarray(weight.transpose(order))


def conv_weight_from_ir(weight: np.ndarray, depthwise: bool) -> np.ndarray:
    """Inverse of conv_weight_to_ir: IR filter -> [out, in/groups, kh, kw]."""
    order = (3, 0, 1, 2) if depthwise else (0, 3, 1, 2)
    return np.ascontiguousarray(weight.transpose(order))


def columns_chw_to_hwc(weight: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """Fully connected weights [out, C*H*W] whose columns follow an NCHW flatten
    (index c*H*W + h*W + w) -> columns in the IR's NHWC flatten order ((h*W + w)*C + c)."""
    c, h, w = chw
    out = weight.shape[0]
    return np.ascontiguousarray(
        weight.reshape(out, c, h, w).transpose(0, 2, 3, 1).reshape(out, h * w * c))


def columns_hwc_to_chw(weight: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """Inverse of columns_chw_to_hwc."""
    c, h, w = chw
    out = weight.shape[0]
    return np.ascontiguousarray(
        weight.reshape(out, h, w, c).transpose(0, 3, 1, 2).reshape(out, c * h * w))
