"""Output channels that compute one constant, rewritten offline so that the layer keeps
its fast kernel.

The optimized convolutions need every output channel's accumulator below 2^30
(codegen/optimized.py). A "dead" channel (all weights zero, common after pruning or L2
training) often carries a bias near +-2^30, and a nearly dead one (tiny weight scale) a
bias that large with weights too small to move the output: one such channel used to send
the whole layer to the portable kernel (about 8 instructions per MAC instead of 1.1).

Such a channel's output does not depend on the input: the output stage (requantize, add
the zero point, clamp) is monotone in the accumulator, so when it gives the same value v
at both ends of the accumulators the channel can reach, it gives v everywhere in between.
Its weights then become zeros, its bias ``4 * (v - output_offset)`` and its requantization
(multiplier 2^30, shift -1): a real multiplier of 1/4 under which TFLM's double rounding
maps ``4 * t`` to exactly ``t``. The layer computes the same bytes, and the bound holds.

The replacement multipliers ride on the node as ``attrs["requant_override"]``
((channel, multiplier, shift), ...), which ``edgekd.reference.params`` applies, so the
reference, the generated constants and every kernel see one set of integers. Channels
inside the bound are left as they are; a channel outside it whose output varies keeps the
layer on the portable kernel (``fast_conv_ok``).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from edgekd.codegen.optimized import ACC_LIMIT, accumulator_bound, symmetric_fc
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.reference import params as prepare
from edgekd.reference.requantize import requantize_to_int8

CONSTANT_MULTIPLIER = 1 << 30  # with CONSTANT_SHIFT: the real multiplier 1/4
CONSTANT_SHIFT = -1
CONSTANT_SCALE = 4
OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def with_constant_channels(graph: Graph) -> Graph:
    """``graph`` with every convolution's out-of-bound constant channels rewritten (the
    module docstring); the same graph when there are none."""
    tensors = dict(graph.tensors)
    nodes = []
    for node in graph.nodes:
        constants = constant_channels(graph, node) if node.op in OPS else {}
        nodes.append(_rewritten(graph, node, constants, tensors) if constants else node)
    if nodes == graph.nodes:
        return graph
    return dataclasses.replace(graph, tensors=tensors, nodes=nodes)


def accumulator_range(weights: np.ndarray, bias: np.ndarray | None, input_offset: int,
                      depthwise: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel, the least and greatest accumulator (int64) any int8 input can
    give: bias + sum w * (x + input_offset), each x in [-128, 127] (a padded tap adds 0,
    which x = -input_offset gives too)."""
    w = np.asarray(weights, dtype=np.int64)
    w = w.reshape(-1, w.shape[-1]).T if depthwise else w.reshape(w.shape[0], -1)
    low, high = input_offset - 128, input_offset + 127
    ends = np.stack([w * low, w * high])
    b = np.zeros(w.shape[0], dtype=np.int64) if bias is None else \
        np.asarray(bias, dtype=np.int64).reshape(-1)
    return b + ends.min(axis=0).sum(axis=1), b + ends.max(axis=0).sum(axis=1)


def constant_channels(graph: Graph, node: Node) -> dict[int, int]:
    """{channel: its int8 output} of the channels of a CONV_2D, DEPTHWISE_CONV_2D or
    FULLY_CONNECTED (symmetric weights) that break the fast kernels' accumulator bound
    yet always output one value."""
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    bias = _bias(graph, node)
    if node.op == "FULLY_CONNECTED" and not symmetric_fc(graph, node):
        return {}
    if x.dtype != "int8" or w.dtype != "int8" or w.data is None or \
            len(w.shape) != (2 if node.op == "FULLY_CONNECTED" else 4):
        return {}
    depthwise = node.op == "DEPTHWISE_CONV_2D"
    outside = np.flatnonzero(accumulator_bound(w.data, bias, depthwise) >= ACC_LIMIT)
    if outside.size == 0:
        return {}
    p = _prepared(graph, node)
    low, high = accumulator_range(w.data, bias, p.input_offset, depthwise)
    result = {}
    for c in outside:
        # Beyond int32 the accumulator wraps and the output stops being monotone in it.
        if p.multiplier[c] < 0 or low[c] < -(1 << 31) or high[c] >= 1 << 31:
            continue
        ends = requantize_to_int8(np.array([low[c], high[c]]), None, p.multiplier[c],
                                  p.shift[c], p.output_offset, p.activation_min,
                                  p.activation_max)
        if ends[0] == ends[1]:
            result[int(c)] = int(ends[0])
    return result


def _prepared(graph: Graph, node: Node):
    return prepare.prepare_fully_connected(graph, node) if node.op == "FULLY_CONNECTED" \
        else prepare.prepare_conv(graph, node)


def _bias(graph: Graph, node: Node) -> np.ndarray | None:
    return graph.tensor(node.inputs[2]).data if len(node.inputs) > 2 and node.inputs[2] \
        else None


def _rewritten(graph: Graph, node: Node, constants: dict[int, int],
               tensors: dict[str, Tensor]) -> Node:
    """``node`` with ``constants``' channels computing their value from the bias alone,
    on copies of its weights and bias (another layer may share the originals)."""
    w = graph.tensor(node.inputs[1])
    depthwise = node.op == "DEPTHWISE_CONV_2D"
    channels = w.shape[-1] if depthwise else w.shape[0]
    old_bias = _bias(graph, node)
    weights = w.data.copy()
    bias = np.zeros(channels, dtype=np.int32) if old_bias is None else \
        np.asarray(old_bias, dtype=np.int32).reshape(-1).copy()
    output_offset = _prepared(graph, node).output_offset
    for c, value in constants.items():
        if depthwise:
            weights[..., c] = 0
        else:
            weights[c] = 0
        bias[c] = CONSTANT_SCALE * (value - output_offset)
    w_name = _fresh(tensors, f"{w.name}#constant_channels")
    tensors[w_name] = dataclasses.replace(w, name=w_name, data=weights)
    b_name = _fresh(tensors, f"{node.name}#bias_constant_channels")
    b_quant = graph.tensor(node.inputs[2]).quant if old_bias is not None else \
        QuantParams(np.ones(channels), np.zeros(channels), 0)
    tensors[b_name] = Tensor(b_name, (channels,), "int32", b_quant, bias)
    overrides = tuple(sorted({*node.attrs.get("requant_override", ()),
                              *((c, CONSTANT_MULTIPLIER, CONSTANT_SHIFT) for c in constants)}))
    inputs = [node.inputs[0], w_name, b_name, *node.inputs[3:]]
    return dataclasses.replace(node, inputs=inputs,
                               attrs={**node.attrs, "requant_override": overrides})


def _fresh(tensors: dict[str, Tensor], name: str) -> str:
    candidate, n = name, 1
    while candidate in tensors:
        n += 1
        candidate = f"{name}{n}"
    return candidate
