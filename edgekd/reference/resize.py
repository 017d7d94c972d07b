"""RESIZE_NEAREST_NEIGHBOR as TFLM's reference_ops::ResizeNearestNeighbor: each output
row and column takes one input row and column, chosen in float32 exactly as TFLM's
GetNearestNeighbor does (so the maps, computed offline, are TFLM's). RESIZE_BILINEAR as
TFLM's int8 ResizeBilinear: 10-bit fixed-point positions, computed offline too."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekd.errors import UnsupportedError
from edgekd.ir import Graph, Node


@dataclass(frozen=True)
class ResizeNearestParams:
    y_table: np.ndarray  # int32 [out_h]: the input row of each output row
    x_table: np.ndarray  # int32 [out_w]


def nearest_map(in_size: int, out_size: int, align_corners: bool,
                half_pixel_centers: bool) -> np.ndarray:
    """GetNearestNeighbor for every output index, in float32 as TFLM computes it."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    values = (np.arange(out_size, dtype=np.float32) + offset) * scale  # float32 products
    if align_corners:  # TfLiteRound: halves away from zero
        index = np.floor(np.abs(values) + f32(0.5)) * np.sign(values)
    else:
        index = np.floor(values)
    index = np.minimum(index.astype(np.int64), in_size - 1)
    if half_pixel_centers:
        index = np.maximum(index, 0)
    return index.astype(np.int32)


def prepare_resize_nearest(graph: Graph, node: Node) -> ResizeNearestParams:
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    a = node.attrs
    return ResizeNearestParams(
        nearest_map(x.shape[1], y.shape[1], a["align_corners"], a["half_pixel_centers"]),
        nearest_map(x.shape[2], y.shape[2], a["align_corners"], a["half_pixel_centers"]))


def resize_nearest(p: ResizeNearestParams, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x[:, p.y_table][:, :, p.x_table])


@dataclass(frozen=True)
class ResizeBilinearParams:
    """Per output row (and column): the two input rows it blends and the distance past
    the first, in 1/1024ths (TFLM's int8 ResizeBilinear; may be negative at the edge with
    half-pixel centers, where both rows are row 0)."""

    y_table: np.ndarray  # int32 [out_h, 3]: y0, y1, 1024 * input_y - 1024 * y0
    x_table: np.ndarray  # int32 [out_w, 3]


def _c_div(a: np.ndarray, b: int) -> np.ndarray:
    """C's integer division (truncating toward zero)."""
    return np.sign(a) * (np.abs(a) // b)


def bilinear_table(in_size: int, out_size: int, align_corners: bool,
                   half_pixel_centers: bool) -> np.ndarray:
    """TFLM's integer ComputeInterpolationValues for every output index."""
    if align_corners and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        scale = ((1 << 10) * in_size + out_size // 2) // out_size
    index = np.arange(out_size, dtype=np.int64)
    scaled = index * scale + (scale // 2 - (1 << 9) if half_pixel_centers else 0)
    low = np.maximum(_c_div(scaled, 1 << 10), 0)
    high = np.minimum(_c_div(scaled + (1 << 10) - 1, 1 << 10), in_size - 1)
    return np.stack([low, high, scaled - (1 << 10) * low], axis=1).astype(np.int32)


def prepare_resize_bilinear(graph: Graph, node: Node) -> ResizeBilinearParams:
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    a = node.attrs
    tables = [bilinear_table(i, o, a["align_corners"], a["half_pixel_centers"])
              for i, o in zip(x.shape[1:3], y.shape[1:3])]
    for table, size in zip(tables, x.shape[1:3]):
        if table[:, 0].max() > size - 1:
            # TFLM's rounded 10-bit scale overshoots on steep upsampling and reads past
            # the input; no defined result to reproduce.
            raise UnsupportedError(f"graph {graph.name!r}: node {node.name!r} "
                                   f"(RESIZE_BILINEAR): {x.shape[1:3]} -> {y.shape[1:3]} "
                                   "makes TFLM's integer kernel read past the input")
    return ResizeBilinearParams(*tables)


def resize_bilinear(p: ResizeBilinearParams, x: np.ndarray) -> np.ndarray:
    """The four neighbours weighted in 1/2^20ths, rounded halves away from zero (a sum of
    0 rounds to 0), as TFLM's int8 kernel."""
    y0, y1, fy = (p.y_table[:, k] for k in range(3))
    x0, x1, fx = (p.x_table[:, k] for k in range(3))
    q = x.astype(np.int64)
    wy = (np.int64(1 << 10) - fy)[None, :, None, None], fy[None, :, None, None].astype(np.int64)
    wx = (np.int64(1 << 10) - fx)[None, None, :, None], fx[None, None, :, None].astype(np.int64)
    total = (q[:, y0][:, :, x0] * wy[0] * wx[0] + q[:, y1][:, :, x0] * wy[1] * wx[0]
             + q[:, y0][:, :, x1] * wy[0] * wx[1] + q[:, y1][:, :, x1] * wy[1] * wx[1])
    rounded = total + np.where(total > 0, 1 << 19, -(1 << 19))
    return _c_div(rounded, 1 << 20).astype(np.int8)
