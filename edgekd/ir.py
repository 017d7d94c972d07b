"""The intermediate representation every front end produces and every back end consumes.

A Graph is a list of Nodes in execution order over named Tensors. Layout is NHWC, weights
keep TFLite's layouts, and quantization follows TFLite's int8 scheme (see docs/design.md):

- CONV_2D filter:            [out_c, kh, kw, in_c]  int8, per-channel scale on axis 0
- DEPTHWISE_CONV_2D filter:  [1, kh, kw, out_c]     int8, per-channel scale on axis 3
                             (out_c = in_c * depth_multiplier)
- FULLY_CONNECTED weights:   [out, in]              int8, per-tensor or per-channel axis 0
- bias:                      [out_c]                int32, scale in_scale * w_scale[c], zp 0

DYNAMIC_FULLY_CONNECTED is the one float op ("dynamic" or "hybrid" quantization, as torch's
quantize_dynamic and TFLite's hybrid FULLY_CONNECTED): float32 input and output, int8
weights [out, in] with symmetric scales (per-channel on axis 0, or per-tensor), an optional
float32 bias [out]. Each input vector is quantized to int8 at run time from its own range
(edgekd/reference/dynamic_fully_connected.py gives the exact arithmetic). It is an op of
its own, not FULLY_CONNECTED with other dtypes, so each op keeps one semantics in the
reference, one C kernel and one template.

Node attributes (``Node.attrs``), by op:

- CONV_2D:            stride (h, w), dilation (h, w), padding "SAME"|"VALID", activation
- DEPTHWISE_CONV_2D:  as CONV_2D plus depth_multiplier
- FULLY_CONNECTED:    activation
- DYNAMIC_FULLY_CONNECTED: activation (a float32 clamp: NONE +-FLT_MAX, RELU [0, FLT_MAX],
                      RELU6 [0, 6])
- AVERAGE_POOL_2D, MAX_POOL_2D: filter (h, w), stride (h, w), padding, activation
- ADD:                activation (broadcasting as MUL; ekd_add_broadcast_s8 runs a broadcast or
                      constant operand)
- RESHAPE:            (none: the output tensor's shape is the new shape)
- SOFTMAX:            beta (float)
- QUANTIZE, DEQUANTIZE: (none)
- UNIDIRECTIONAL_SEQUENCE_LSTM: time_major (bool), cell_clip (float, 0: none), cell_scale
                      (the int16 cell state's power-of-two scale); inputs x [batch, time,
                      in] (time-major: [time, batch, in]), int8 weights [units, in] x4 and
                      [units, units] x4 and int32 biases [units] x4, gates in TFLite's order
                      input, forget, cell, output (edgekd/reference/lstm.py)
- REQUANTIZE:         (none) TFLite's QUANTIZE with an integer input: int8 or uint8 to int8
                      or uint8 (uint8 only at the model boundary, as converters emit it)
- MEAN, SUM, REDUCE_MAX: axis (sorted tuple of distinct non-negative dims), keep_dims (bool)
- ARG_MAX, ARG_MIN:   axis (int, non-negative); the output is int32
- MUL, SUB:           activation (broadcasting as TFLite's, up to 4-D)
- MINIMUM, MAXIMUM:   (none; inputs and output share one quantization)
- PRELU:              (none; input 2 is alpha, broadcast against the input)
- LOGISTIC, TANH, HARD_SWISH, RELU, RELU6: (none)
- LEAKY_RELU:         alpha (float)
- PAD:                paddings ((before, after) per axis), pad_value (the int8 code)
- CONCATENATION:      axis (>= 0); inputs of the output's rank, or one below (PACK)
- STRIDED_SLICE:      begin, strides (may be < 0), size: per input axis; the output holds
                      the slice's values in any shape of that size (shrunk axes dropped)
- TRANSPOSE:          perm
- TILE:               multiples
- RESIZE_BILINEAR:    as RESIZE_NEAREST_NEIGHBOR
- GATHER:             axis, indices (constant, flattened; the output shape places them)
- RESIZE_NEAREST_NEIGHBOR: align_corners, half_pixel_centers (bools; 4-D NHWC, the
                      output's H and W are the new size)
The layout ops move values without changing them: input and output share quantization.

``activation`` is one of "NONE", "RELU", "RELU6"; it becomes the clamp range of the output.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from edgekd.budgets import TENSOR
from edgekd.errors import GraphError
from edgekd.shapes import check_node  # shape rules live beside the ops they describe

ACTIVATIONS = ("NONE", "RELU", "RELU6")
PADDINGS = ("SAME", "VALID")
DTYPES = ("int8", "uint8", "int32", "float32")

# Which attributes each op needs; validate() checks them and the registry relies on them.
OP_ATTRS: dict[str, tuple[str, ...]] = {
    "CONV_2D": ("stride", "dilation", "padding", "activation"),
    "DEPTHWISE_CONV_2D": ("stride", "dilation", "padding", "activation", "depth_multiplier"),
    "FULLY_CONNECTED": ("activation",),
    "DYNAMIC_FULLY_CONNECTED": ("activation",),
    "AVERAGE_POOL_2D": ("filter", "stride", "padding", "activation"),
    "MAX_POOL_2D": ("filter", "stride", "padding", "activation"),
    "ADD": ("activation",),
    "RESHAPE": (),
    "SOFTMAX": ("beta",),
    "QUANTIZE": (),
    "DEQUANTIZE": (),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": ("time_major", "cell_clip", "cell_scale"),
    "REQUANTIZE": (),
    "PAD": ("paddings", "pad_value"),
    "CONCATENATION": ("axis",),
    "STRIDED_SLICE": ("begin", "strides", "size"),
    "TRANSPOSE": ("perm",),
    "TILE": ("multiples",),
    "RESIZE_NEAREST_NEIGHBOR": ("align_corners", "half_pixel_centers"),
    "GATHER": ("axis", "indices"),
    "RESIZE_BILINEAR": ("align_corners", "half_pixel_centers"),
    "MEAN": ("axis", "keep_dims"),
    "SUM": ("axis", "keep_dims"),
    "REDUCE_MAX": ("axis", "keep_dims"),
    "ARG_MAX": ("axis",),
    "ARG_MIN": ("axis",),
    "MUL": ("activation",),
    "SUB": ("activation",),
    "MINIMUM": (),
    "MAXIMUM": (),
    "PRELU": (),
    "LOGISTIC": (),
    "TANH": (),
    "HARD_SWISH": (),
    "RELU": (),
    "RELU6": (),
    "LEAKY_RELU": ("alpha",),
}
OPS = tuple(OP_ATTRS)


@dataclass
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point).

    ``scale`` and ``zero_point`` are 1-D arrays: length 1 for per-tensor parameters, or the
    size of dimension ``axis`` for per-channel (per-axis) parameters.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None

    def __post_init__(self) -> None:
        # Scales are float32 in every model format; holding them rounded to float32 keeps
        # multipliers computed here identical to those TFLM computes from the file.
        self.scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float32).astype(np.float64))
        self.zero_point = np.atleast_1d(np.asarray(self.zero_point, dtype=np.int64))
        if self.zero_point.size == 1 and self.scale.size > 1:
            self.zero_point = np.zeros_like(self.scale, dtype=np.int64) + self.zero_point[0]

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int = 0) -> "QuantParams":
        return cls(np.array([scale]), np.array([zero_point]), None)

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    @property
    def scalar_scale(self) -> float:
        """The scale of a per-tensor quantized tensor (raises for per-channel)."""
        if self.scale.size != 1:
            raise GraphError(f"expected per-tensor quantization, got {self.scale.size} scales")
        return float(self.scale[0])

    @property
    def scalar_zero_point(self) -> int:
        if self.zero_point.size != 1:
            raise GraphError(f"expected one zero point, got {self.zero_point.size}")
        return int(self.zero_point[0])

    def is_per_tensor(self, scale: float, zero_point: int) -> bool:
        return (self.scale.size == 1 and float(self.scale[0]) == scale
                and int(self.zero_point[0]) == zero_point)

    def same_as(self, other: "QuantParams | None") -> bool:
        return (
            other is not None
            and self.axis == other.axis
            and np.array_equal(self.scale, other.scale)
            and np.array_equal(self.zero_point, other.zero_point)
        )


@dataclass
class Tensor:
    """A named tensor: an activation (data None) or a constant (weights, bias)."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "int8"
    quant: QuantParams | None = None
    data: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.shape = tuple(int(d) for d in self.shape)

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize


@dataclass
class Node:
    """One op. ``inputs`` and ``outputs`` name tensors; an absent optional input is ""."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)


@dataclass
class Graph:
    """Nodes in execution order over a tensor table; ``inputs``/``outputs`` name tensors."""

    name: str
    tensors: dict[str, Tensor]
    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]

    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise GraphError(f"graph {self.name!r}: no tensor named {name!r}") from None

    def node_inputs(self, node: Node) -> list[Tensor | None]:
        return [self.tensor(n) if n else None for n in node.inputs]

    def node_outputs(self, node: Node) -> list[Tensor]:
        return [self.tensor(n) for n in node.outputs]

    def activations(self) -> Iterator[Tensor]:
        """Non-constant tensors, in the order they are first produced or consumed."""
        seen: set[str] = set()
        for name in [*self.inputs, *(t for n in self.nodes for t in (*n.inputs, *n.outputs))]:
            if name and name not in seen and not self.tensors[name].is_constant:
                seen.add(name)
                yield self.tensors[name]

    def validate(self) -> "Graph":
        """Check wiring, shapes and quantization parameters; raise GraphError naming the node."""
        produced = set(self.inputs)
        for name in self.inputs:
            self.tensor(name)
        for index, node in enumerate(self.nodes):
            where = f"graph {self.name!r}: node {index} ({node.op} {node.name!r})"
            if node.op not in OP_ATTRS:
                raise GraphError(f"{where}: unknown op; known: {', '.join(OPS)}")
            missing = [a for a in OP_ATTRS[node.op] if a not in node.attrs]
            if missing:
                raise GraphError(f"{where}: missing attribute(s) {', '.join(missing)}")
            act = node.attrs.get("activation", "NONE")
            if act not in ACTIVATIONS:
                raise GraphError(f"{where}: activation {act!r} not in {ACTIVATIONS}")
            pad = node.attrs.get("padding", "VALID")
            if pad not in PADDINGS:
                raise GraphError(f"{where}: padding {pad!r} not in {PADDINGS}")
            for name in node.inputs:
                if not name:
                    continue
                t = self.tensors.get(name)
                if t is None:
                    raise GraphError(f"{where}: input {name!r} is not a tensor of the graph")
                if not t.is_constant and name not in produced:
                    raise GraphError(f"{where}: input {name!r} is used before it is computed")
            for name in node.outputs:
                if name not in self.tensors:
                    raise GraphError(f"{where}: output {name!r} is not a tensor of the graph")
                if name in produced:
                    raise GraphError(f"{where}: output {name!r} is written twice")
                produced.add(name)
            for t in (*self.node_inputs(node), *self.node_outputs(node)):
                if t is not None and t.dtype not in DTYPES:
                    raise GraphError(f"{where}: tensor {t.name!r} has dtype {t.dtype}")
                if t is not None:  # before anything computes it (edgekd/budgets.py)
                    TENSOR.check(f"{where}: tensor {t.name!r}", t.nbytes,
                                 f"{t.dtype} {list(t.shape)}")
                if t is not None and t.is_constant and tuple(t.data.shape) != t.shape:
                    raise GraphError(f"{where}: constant {t.name!r} holds data of shape "
                                     f"{tuple(t.data.shape)}, declared {t.shape}")
            for key in ("stride", "dilation", "filter"):
                if key in node.attrs and min(node.attrs[key]) < 1:
                    raise GraphError(f"{where}: {key} {tuple(node.attrs[key])} must be >= 1")
            try:
                check_node(self, node)
            except GraphError as e:
                raise GraphError(f"{where}: {e}") from None
        for name in self.outputs:
            if name not in produced:
                raise GraphError(f"graph {self.name!r}: output {name!r} is never computed")
        return self
