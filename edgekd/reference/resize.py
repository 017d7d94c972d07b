"""RESIZE_NEAREST_NEIGHBOR as TFLM's reference_ops::ResizeNearestNeighbor: each output
row and column takes one input row and column, chosen in float32 exactly as TFLM's
GetNearestNeighbor does (so the maps, computed offline, are TFLM's)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekd.ir import Graph, Node


@dataclass(frozen=True)
class ResizeNearestParams:
    y_map: np.ndarray  # int32 [out_h]: the input row of each output row
    x_map: np.ndarray  # int32 [out_w]


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
    return np.ascontiguousarray(x[:, p.y_map][:, :, p.x_map])
