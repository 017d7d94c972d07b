"""The layout ops: values move, none changes (PAD, CONCATENATION, STRIDED_SLICE,
TRANSPOSE, TILE, GATHER with constant indices). TFLM's kernels for them copy bytes, so the quantization of input and
output is one (the IR checks it); these functions hold for any dtype.

Every front-end op of this family becomes one of them: SLICE, SPLIT, SPLIT_V and UNPACK
are STRIDED_SLICEs, PACK is a CONCATENATION of inputs one rank lower, PADV2 is PAD with its
constant, SQUEEZE and EXPAND_DIMS are RESHAPE. ``attrs`` is the node's attribute dict
(edgekd/ir.py lists each op's).
"""
from __future__ import annotations

import numpy as np


def layout_attrs(graph, node) -> dict:
    """The "prepared parameters" of a layout op: its attributes, as the IR holds them."""
    return dict(node.attrs)


def pad(attrs: dict, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    out = np.pad(x, [tuple(p) for p in attrs["paddings"]], constant_values=attrs["pad_value"])
    return out.astype(x.dtype).reshape(out_shape)


def concatenation(attrs: dict, *inputs_and_out_shape) -> np.ndarray:
    """Inputs along ``axis``; an input one rank below the output (PACK) is a slice of
    extent 1 along it. The last argument is the output shape."""
    *inputs, out_shape = inputs_and_out_shape
    axis = attrs["axis"]
    arrays = [x if x.ndim == len(out_shape) else np.expand_dims(x, axis)
              for x in inputs if x is not None]
    return np.concatenate(arrays, axis=axis)


def strided_slice(attrs: dict, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """``size[i]`` values from ``begin[i]`` in steps of ``strides[i]`` along each axis (a
    step may be negative), then shaped as the output (dropping shrunk axes)."""
    index = np.ix_(*[b + s * np.arange(n) for b, s, n in
                     zip(attrs["begin"], attrs["strides"], attrs["size"])])
    return x[index].reshape(out_shape)


def transpose(attrs: dict, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(x, attrs["perm"]))


def tile(attrs: dict, x: np.ndarray) -> np.ndarray:
    return np.tile(x, attrs["multiples"])


def gather(attrs: dict, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """Slices ``indices`` (constant) of ``x`` along ``axis``; the indices' own shape
    replaces that axis (the output shape says how)."""
    return np.take(x, np.asarray(attrs["indices"], dtype=np.int64).reshape(-1),
                   axis=attrs["axis"]).reshape(out_shape)
