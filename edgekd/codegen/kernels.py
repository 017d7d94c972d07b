"""The forms of a layer's weights its kernels read (codegen/kernel_table.py's ``filter``
and ``bias``), packed offline.

A faster kernel reads the weights in a form of its own (a folded bias, a packed filter);
the generated weights file holds each form only where a kernel that reads it is built
(codegen/layers.py guards the arrays by the kernels' conditions).
"""
from __future__ import annotations

import numpy as np

from edgekd.codegen import optimized
from edgekd.codegen.kernel_table import KernelVariant
from edgekd.codegen.prepare import layer_record
from edgekd.codegen.residual import conv_of
from edgekd.ir import Graph, Node

# filter form -> packer of the model's weights
PACKERS = {
    "model": lambda w: w,
    "packed16": lambda w: packed_conv_filter(w),
    "packed4": lambda w: packed_depthwise_filter(w),
    "rows4": lambda w: optimized.rows4_filter(w),
    "winograd": lambda w: optimized.winograd_filter(w),
}


def variant_operands(graph: Graph, node: Node, variant: KernelVariant
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """The filter and bias (None: no bias) of a conv or depthwise layer in the forms
    ``variant`` reads (KernelVariant.filter and .bias)."""
    params = layer_record(graph, node).params
    node = conv_of(node)
    w = graph.tensor(node.inputs[1]).data
    b = graph.tensor(node.inputs[2]).data if len(node.inputs) > 2 and node.inputs[2] else None
    filt = PACKERS[variant.filter](w)
    if variant.bias == "folded":
        b = folded_bias(w, b, params.input_offset, node.op == "DEPTHWISE_CONV_2D")
    return filt, b


def folded_bias(weights: np.ndarray, bias: np.ndarray | None, input_offset: int,
                depthwise: bool = False) -> np.ndarray:
    """bias[c] + input_offset * (sum of channel c's weights), wrapping modulo 2^32 as the
    int32 accumulators do. ``weights``: [out_c, kh, kw, in_c] (conv) or [1, kh, kw, c]
    (depthwise)."""
    w = np.asarray(weights, dtype=np.int64)
    sums = w.reshape(-1, w.shape[-1]).sum(axis=0) if depthwise else \
        w.reshape(w.shape[0], -1).sum(axis=1)
    base = np.zeros(sums.shape, dtype=np.int64) if bias is None else \
        np.asarray(bias, dtype=np.int64).reshape(-1)
    total = (base + int(input_offset) * sums) & 0xFFFFFFFF
    return total.astype(np.uint32).view(np.int32)


def tap_sums(weights: np.ndarray) -> np.ndarray:
    """Conv weights [out_c, kh, kw, in_c] summed over the input channels of each tap:
    int32 [kh * kw][out_c], what the direct kernels (ekd_conv2d_direct_s8*) subtract,
    times the input offset, for the taps of a window that lie in the padding."""
    w = np.asarray(weights, dtype=np.int64)
    sums = w.sum(axis=3).reshape(w.shape[0], -1).T  # [kh * kw][out_c]
    return np.ascontiguousarray(sums.astype(np.int32))


def _round16(n: int) -> int:
    return (n + 15) // 16 * 16


def packed_conv_filter(weights: np.ndarray) -> np.ndarray:
    """Conv weights [out_c, kh, kw, in_c] as rows padded with zeros to a multiple of 16
    bytes, [out_c][round_up(kh * kw * in_c, 16)]: whole vectors, no read past a row."""
    w = np.asarray(weights, dtype=np.int8)
    rows = w.reshape(w.shape[0], -1)
    padded = np.zeros((rows.shape[0], _round16(rows.shape[1])), dtype=np.int8)
    padded[:, :rows.shape[1]] = rows
    return padded.reshape(-1)


def packed_depthwise_filter(weights: np.ndarray) -> np.ndarray:
    """Depthwise weights [1, kh, kw, c] as [ceil(c / 4)][kh * kw][4], the last block
    zero-filled: each block of four channels reads its taps front to back."""
    w = np.asarray(weights, dtype=np.int8)
    taps, channels = w.shape[1] * w.shape[2], w.shape[3]
    blocks = (channels + 3) // 4
    padded = np.zeros((taps, blocks * 4), dtype=np.int8)
    padded[:, :channels] = w.reshape(taps, channels)
    return np.ascontiguousarray(padded.reshape(taps, blocks, 4).transpose(1, 0, 2)).reshape(-1)
