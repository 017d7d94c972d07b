"""Shape rules, padding and MAC counts of the IR ops (TFLite's conventions).

Front ends use ``conv_output_size``/``same_padding`` to build graphs, ``Graph.validate`` uses
``check_node``, and ``inspect``/codegen use ``node_macs``.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from edgekd.errors import GraphError

if TYPE_CHECKING:  # the rules below are what ir.Graph.validate checks: ir imports this
    from edgekd.ir import Graph, Node


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Output extent along one spatial axis, as TFLite computes it."""
    effective = (kernel - 1) * dilation + 1
    if padding == "SAME":
        return (size + stride - 1) // stride
    return (size - effective + stride) // stride


def same_padding(size: int, kernel: int, stride: int, dilation: int, out: int) -> int:
    """Leading padding (top or left); any odd extra row/column goes at the end, as in TFLite."""
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2


def padding_of(node: Node, in_hw: tuple[int, int], out_hw: tuple[int, int],
               kernel_hw: tuple[int, int]) -> tuple[int, int]:
    """(pad_h, pad_w) of a conv or pool node: zero for VALID; a convolution with a PAD
    folded in (codegen/pad_fusion.py) has its own leading padding."""
    if "explicit_padding" in node.attrs:
        return tuple(int(p[0]) for p in node.attrs["explicit_padding"])
    if node.attrs["padding"] == "VALID":
        return 0, 0
    dil = node.attrs.get("dilation", (1, 1))
    stride = node.attrs["stride"]
    return (same_padding(in_hw[0], kernel_hw[0], stride[0], dil[0], out_hw[0]),
            same_padding(in_hw[1], kernel_hw[1], stride[1], dil[1], out_hw[1]))


def reduced_shape(shape: tuple[int, ...], axis, keep_dims: bool) -> tuple[int, ...]:
    """The output shape of a reduction (MEAN, SUM, REDUCE_MAX) over ``axis``."""
    if keep_dims:
        return tuple(1 if d in axis else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axis)


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """numpy's (and TFLite's) broadcast of two shapes; None where they do not broadcast."""
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        return None
    return tuple(max(x, y) for x, y in zip(a, b))


MAX_BROADCAST_RANK = 4  # TFLite's int8 MUL and SUB broadcast up to 4-D


def is_broadcast_add(graph: Graph, node: Node) -> bool:
    """An ADD the elementwise kernels cannot run: its inputs differ in shape, or one is a
    constant (ekd_add_broadcast_s8 runs it)."""
    ins = graph.node_inputs(node)
    return node.op == "ADD" and (ins[0].shape != ins[1].shape
                                 or any(t.is_constant for t in ins))
ELEMENTWISE_BINARY_OPS = ("MUL", "SUB", "MINIMUM", "MAXIMUM", "PRELU")
BROADCAST_OPS = ("ADD", *ELEMENTWISE_BINARY_OPS)  # the ops that broadcast their inputs
UNARY_OPS = ("REQUANTIZE", "LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "LEAKY_RELU")
REDUCE_OPS = ("MEAN", "SUM", "REDUCE_MAX")


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise GraphError(message)


def _spatial_out(node: Node, in_shape, kernel_hw) -> tuple[int, int]:
    stride = node.attrs["stride"]
    dil = node.attrs.get("dilation", (1, 1))
    extra = [sum(p) for p in node.attrs.get("explicit_padding", ((0, 0), (0, 0)))]
    return (conv_output_size(in_shape[1] + extra[0], kernel_hw[0], stride[0], dil[0],
                             node.attrs["padding"]),
            conv_output_size(in_shape[2] + extra[1], kernel_hw[1], stride[1], dil[1],
                             node.attrs["padding"]))


def check_node(graph: Graph, node: Node) -> None:
    """Raise GraphError if the node's tensors do not fit its op (message without location)."""
    ins = graph.node_inputs(node)
    outs = graph.node_outputs(node)
    op = node.op
    x = ins[0]
    _expect(x is not None, "missing first input")
    y = outs[0]
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        w, b = ins[1], ins[2] if len(ins) > 2 else None
        _expect(w is not None and w.is_constant, "filter must be a constant")
        _expect(len(x.shape) == 4 and len(w.shape) == 4 and len(y.shape) == 4,
                f"expected 4-D input/filter/output, got {x.shape}, {w.shape}, {y.shape}")
        kh, kw = w.shape[1], w.shape[2]
        if op == "CONV_2D":
            out_c = w.shape[0]
            _expect(w.shape[3] == x.shape[3],
                    f"filter in-channels {w.shape[3]} != input channels {x.shape[3]} "
                    "(grouped convolution is not supported)")
        else:
            out_c = w.shape[3]
            _expect(w.shape[0] == 1, f"depthwise filter must be [1, kh, kw, out_c], got {w.shape}")
            _expect(out_c == x.shape[3] * node.attrs["depth_multiplier"],
                    f"depthwise out channels {out_c} != in {x.shape[3]} x multiplier "
                    f"{node.attrs['depth_multiplier']}")
        oh, ow = _spatial_out(node, x.shape, (kh, kw))
        _expect(y.shape == (x.shape[0], oh, ow, out_c),
                f"output shape {y.shape} != expected {(x.shape[0], oh, ow, out_c)}")
        if b is not None:
            _expect(b.is_constant and b.shape == (out_c,) and b.dtype == "int32",
                    f"bias must be a constant int32 [{out_c}], got {b.dtype} {b.shape}")
        _check_weight_quant(w, out_c, 0 if op == "CONV_2D" else 3)
    elif op == "FULLY_CONNECTED":
        w, b = ins[1], ins[2] if len(ins) > 2 else None
        _expect(w is not None and w.is_constant and len(w.shape) == 2,
                "weights must be a constant [out, in] matrix")
        _expect(x.size % w.shape[1] == 0,
                f"input of {x.size} values is not a multiple of the {w.shape[1]} weight columns")
        _expect(y.shape[-1] == w.shape[0] and y.size == x.size // w.shape[1] * w.shape[0],
                f"output shape {y.shape} does not fit weights {w.shape}")
        if b is not None:
            _expect(b.is_constant and b.shape == (w.shape[0],) and b.dtype == "int32",
                    f"bias must be a constant int32 [{w.shape[0]}], got {b.dtype} {b.shape}")
        if w.dtype == "int8":
            _check_weight_quant(w, w.shape[0], 0)
    elif op == "DYNAMIC_FULLY_CONNECTED":
        _check_dynamic_fully_connected(x, ins[1], ins[2] if len(ins) > 2 else None, y)
    elif op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        _expect(len(x.shape) == 4, f"expected 4-D input, got {x.shape}")
        oh, ow = _spatial_out(node, x.shape, tuple(node.attrs["filter"]))
        _expect(y.shape == (x.shape[0], oh, ow, x.shape[3]),
                f"output shape {y.shape} != expected {(x.shape[0], oh, ow, x.shape[3])}")
        if x.dtype == "int8":
            _expect(x.quant is not None and x.quant.same_as(y.quant),
                    "int8 pooling needs identical input and output quantization")
    elif op == "RESHAPE":
        _expect(x.size == y.size, f"cannot reshape {x.shape} into {y.shape}")
    elif op == "SOFTMAX":
        _expect(x.shape == y.shape, f"softmax changes shape {x.shape} -> {y.shape}")
        if y.dtype == "int8":
            _expect(y.quant is not None and y.quant.is_per_tensor(1 / 256, -128),
                    "int8 softmax output must have scale 1/256 and zero point -128")
    elif op in UNARY_OPS:
        _expect(x.shape == y.shape, f"{op} changes shape {x.shape} -> {y.shape}")
        if op == "LOGISTIC" and y.dtype == "int8":
            _expect(y.quant is not None and y.quant.is_per_tensor(1 / 256, -128),
                    "int8 LOGISTIC output must have scale 1/256 and zero point -128")
        if op == "TANH" and y.dtype == "int8":
            _expect(y.quant is not None and y.quant.is_per_tensor(1 / 128, 0),
                    "int8 TANH output must have scale 1/128 and zero point 0")
        if op == "RELU6":
            _expect(x.quant is not None and x.quant.same_as(y.quant),
                    "RELU6 needs identical input and output quantization (TFLM clamps the "
                    "input codes)")
    elif op in REDUCE_OPS:
        axis = tuple(node.attrs["axis"])
        _expect(len(axis) > 0 and all(0 <= d < len(x.shape) for d in axis)
                and list(axis) == sorted(set(axis)),
                f"axis {axis} must be distinct sorted dims of the {len(x.shape)}-D input")
        want = reduced_shape(x.shape, axis, bool(node.attrs["keep_dims"]))
        _expect(y.shape == want, f"output shape {y.shape} != expected {want}")
        if op == "REDUCE_MAX":
            _expect(x.quant is not None and x.quant.same_as(y.quant),
                    "REDUCE_MAX needs identical input and output quantization")
    elif op in ("ARG_MAX", "ARG_MIN"):
        axis = node.attrs["axis"]
        _expect(isinstance(axis, int) and 0 <= axis < len(x.shape),
                f"axis {axis} is not a dim of the {len(x.shape)}-D input")
        want = tuple(n for d, n in enumerate(x.shape) if d != axis)
        _expect(y.shape == want and y.dtype == "int32",
                f"output must be int32 {want}, got {y.dtype} {y.shape}")
    elif op in BROADCAST_OPS:
        _expect(len(ins) == 2 and ins[1] is not None, f"{op} needs two inputs")
        want = broadcast_shape(x.shape, ins[1].shape)
        _expect(want is not None and y.shape == want,
                f"{op} shapes {x.shape}, {ins[1].shape} do not broadcast to {y.shape}")
        _expect(x.shape == ins[1].shape or len(y.shape) <= MAX_BROADCAST_RANK,
                f"{op} on {len(y.shape)}-D tensors; edgekd's int8 kernels take up to "
                f"{MAX_BROADCAST_RANK}-D")
        if op in ("MINIMUM", "MAXIMUM"):
            _expect(all(t.quant is not None and t.quant.same_as(y.quant) for t in ins),
                    f"{op} needs identical input and output quantization (TFLM compares "
                    "the codes)")
    elif op in ("QUANTIZE", "DEQUANTIZE"):
        _expect(x.shape == y.shape, f"{op} changes shape {x.shape} -> {y.shape}")
    elif op == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        _check_lstm(x, ins[1:], y)
    elif op in LAYOUT_OPS:
        _check_layout(op, node.attrs, [t for t in ins if t is not None], y)
    if op == "REQUANTIZE":
        _expect(x.dtype in ("int8", "uint8") and y.dtype in ("int8", "uint8"),
                f"REQUANTIZE maps int8/uint8 to int8/uint8, got {x.dtype} -> {y.dtype}")
    else:
        _expect(all(t is None or t.dtype != "uint8" for t in (*ins, *outs)),
                f"{op}: uint8 tensors are supported only around REQUANTIZE (the model "
                "boundary)")
    for t in (*ins, *outs):
        if t is not None and t.dtype in ("int8", "uint8") and t.quant is None:
            raise GraphError(f"int8 tensor {t.name!r} has no quantization parameters")


LAYOUT_OPS = ("PAD", "CONCATENATION", "STRIDED_SLICE", "TRANSPOSE", "TILE", "GATHER",
              "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR")


def _check_layout(op: str, a: dict, ins: list, y) -> None:
    """The layout ops (edgekd/reference/layout.py): shapes, and one dtype and quantization
    for every operand, since they copy bytes."""
    x = ins[0]
    for t in ins:
        _expect(t.dtype == y.dtype and (t.quant is None and y.quant is None
                                        or t.quant is not None and t.quant.same_as(y.quant)),
                f"{op} copies values: input {t.name!r} and the output need one dtype and "
                "one quantization")
    rank = len(x.shape)
    if op == "PAD":
        pads = [tuple(p) for p in a["paddings"]]
        _expect(len(pads) == rank and all(len(p) == 2 and min(p) >= 0 for p in pads),
                f"paddings {pads} must be (before, after) >= 0 for each of {rank} axes")
        want = tuple(d + p[0] + p[1] for d, p in zip(x.shape, pads))
        _expect(y.shape == want, f"output shape {y.shape} != padded {want}")
        _expect(-128 <= a["pad_value"] <= 127, f"pad value {a['pad_value']} is not int8")
    elif op == "CONCATENATION":
        axis = a["axis"]
        _expect(0 <= axis < len(y.shape), f"axis {axis} out of range for {y.shape}")
        extent = 0
        for t in ins:
            shape = list(t.shape)
            if len(shape) == len(y.shape) - 1:
                shape.insert(axis, 1)  # PACK: a slice along a new axis
            _expect(len(shape) == len(y.shape) and all(
                d == e for i, (d, e) in enumerate(zip(shape, y.shape)) if i != axis),
                f"input shape {t.shape} does not fit output {y.shape} along axis {axis}")
            extent += shape[axis]
        _expect(extent == y.shape[axis], f"inputs add up to {extent} along axis {axis}, "
                                         f"the output has {y.shape[axis]}")
    elif op == "STRIDED_SLICE":
        begin, strides, size = a["begin"], a["strides"], a["size"]
        _expect(len(begin) == len(strides) == len(size) == rank,
                f"begin/strides/size need one value per axis of {x.shape}")
        for b, st, n, d in zip(begin, strides, size, x.shape):
            _expect(st != 0 and n >= 0 and (n == 0 or (0 <= b < d and 0 <= b + st * (n - 1) < d)),
                    f"slice from {b} by {st} for {n} leaves axis of {d}")
        _expect(math.prod(size) == y.size, f"slice of {tuple(size)} cannot fill {y.shape}")
    elif op == "TRANSPOSE":
        perm = tuple(a["perm"])
        _expect(sorted(perm) == list(range(rank)), f"perm {perm} is not a permutation")
        _expect(y.shape == tuple(x.shape[i] for i in perm),
                f"output shape {y.shape} != {x.shape} permuted by {perm}")
    elif op == "GATHER":
        axis, indices = a["axis"], list(a["indices"])
        _expect(0 <= axis < rank and all(0 <= i < x.shape[axis] for i in indices),
                f"indices {indices[:8]} out of range for axis {axis} of {x.shape}")
        _expect(y.size == x.size // x.shape[axis] * len(indices),
                f"gathering {len(indices)} slices of {x.shape} cannot fill {y.shape}")
    elif op in ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"):
        _expect(rank == 4 and len(y.shape) == 4 and y.shape[0] == x.shape[0]
                and y.shape[3] == x.shape[3], f"resize {x.shape} -> {y.shape}: NHWC, only "
                                              "H and W change")
    elif op == "TILE":
        mult = tuple(a["multiples"])
        _expect(len(mult) == rank and min(mult, default=1) >= 1, f"multiples {mult}")
        _expect(y.shape == tuple(d * m for d, m in zip(x.shape, mult)),
                f"output shape {y.shape} != {x.shape} tiled {mult}")


def _check_lstm(x, constants, y) -> None:
    _expect(len(constants) == 12 and all(t is not None and t.is_constant for t in constants),
            "LSTM needs 8 constant weight matrices and 4 constant biases")
    _expect(len(x.shape) == 3 and len(y.shape) == 3 and y.shape[:2] == x.shape[:2],
            f"LSTM input {x.shape} and output {y.shape} must be 3-D over the same steps")
    units, size = y.shape[2], x.shape[2]
    for k, w in enumerate(constants[:8]):
        cols = size if k < 4 else units
        _expect(w.dtype == "int8" and w.shape == (units, cols),
                f"LSTM weight {w.name!r} must be int8 [{units}, {cols}], got {w.dtype} {w.shape}")
        _expect(w.quant is not None and w.quant.scale.size == 1
                and w.quant.scalar_zero_point == 0,
                f"LSTM weight {w.name!r} must be per-tensor symmetric")
    for b in constants[8:]:
        _expect(b.dtype == "int32" and b.shape == (units,),
                f"LSTM bias {b.name!r} must be int32 [{units}], got {b.dtype} {b.shape}")


def _check_dynamic_fully_connected(x, w, b, y) -> None:
    _expect(x.dtype == "float32" and y.dtype == "float32",
            f"input and output must be float32, got {x.dtype} -> {y.dtype}")
    _expect(w is not None and w.is_constant and w.dtype == "int8" and len(w.shape) == 2,
            "weights must be a constant int8 [out, in] matrix")
    _expect(x.size % w.shape[1] == 0,
            f"input of {x.size} values is not a multiple of the {w.shape[1]} weight columns")
    _expect(y.shape[-1] == w.shape[0] and y.size == x.size // w.shape[1] * w.shape[0],
            f"output shape {y.shape} does not fit weights {w.shape}")
    if b is not None:
        _expect(b.is_constant and b.shape == (w.shape[0],) and b.dtype == "float32",
                f"bias must be a constant float32 [{w.shape[0]}], got {b.dtype} {b.shape}")
    _check_weight_quant(w, w.shape[0], 0)
    # An input scale reaches FLT_MAX / 255: weight scales up to 127 keep their product
    # (the float32 channel scale) finite, so no output is 0 * infinity.
    _expect(bool((w.quant.scale <= 127.0).all()),
            f"weights {w.name!r} have a scale above 127 (values beyond +-16129)")


def _check_weight_quant(w, channels: int, axis: int) -> None:
    q = w.quant
    _expect(q is not None, f"weights {w.name!r} have no quantization parameters")
    _expect(q.scale.size in (1, channels),
            f"weights {w.name!r}: {q.scale.size} scales for {channels} channels")
    _expect(q.scale.size == 1 or q.axis == axis,
            f"weights {w.name!r}: per-channel axis {q.axis}, expected {axis}")
    _expect(bool((q.zero_point == 0).all()), f"weights {w.name!r} must be symmetric (zp 0)")
    _expect(bool((q.scale > 0).all()), f"weights {w.name!r} have a scale <= 0")


def node_macs(graph: Graph, node: Node) -> int:
    """Multiply-accumulates of one node (0 for data movement and elementwise ops)."""
    if node.op == "CONV_2D":
        w = graph.tensor(node.inputs[1])
        return graph.tensor(node.outputs[0]).size * w.shape[1] * w.shape[2] * w.shape[3]
    if node.op == "DEPTHWISE_CONV_2D":
        w = graph.tensor(node.inputs[1])
        return graph.tensor(node.outputs[0]).size * w.shape[1] * w.shape[2]
    if node.op in ("FULLY_CONNECTED", "DYNAMIC_FULLY_CONNECTED"):
        w = graph.tensor(node.inputs[1])
        return graph.tensor(node.outputs[0]).size * w.shape[1]
    if node.op == "UNIDIRECTIONAL_SEQUENCE_LSTM":  # 4 gates x (input + recurrent) per output
        x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
        return y.size * 4 * (x.shape[2] + y.shape[2])
    return 0


def node_params(graph: Graph, node: Node) -> int:
    """Number of constant values (weights and biases) a node holds."""
    return sum(t.size for t in graph.node_inputs(node) if t is not None and t.is_constant)


def graph_macs(graph: Graph) -> int:
    return sum(node_macs(graph, n) for n in graph.nodes)


def graph_params(graph: Graph) -> int:
    return sum(node_params(graph, n) for n in graph.nodes)

