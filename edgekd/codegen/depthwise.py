"""A depthwise convolution over one input channel, run as the plain convolution it is.

With one input channel and a depth multiplier M, DEPTHWISE_CONV_2D computes output
channel m as ``bias[m] + sum over the window of w[tap][m] * (x[tap] + input_offset)``:
exactly CONV_2D with M output channels and one input channel, its filter [M, kh, kw, 1]
the depthwise filter [1, kh, kw, M] transposed, the same bias, padding, stride, dilation
and per-channel requantization. The code generator makes that swap, so such layers
(micro_speech's 8x10 window with multiplier 8, person_detect's first layer) run on the
convolution's fast kernels (im2col: the window is the dot product, eight channels per
pass) instead of the portable depthwise kernel (34 instructions per MAC on a Cortex-M4).
The integers are the same ones, so the bytes are too.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from edgekd.ir import Graph, Node, QuantParams


def with_single_channel_depthwise_as_conv(graph: Graph) -> Graph:
    """``graph`` with each DEPTHWISE_CONV_2D of one input channel and a depth multiplier
    above one replaced by its CONV_2D; the same graph when there is none."""
    tensors = dict(graph.tensors)
    nodes = [_as_conv(graph, node, tensors) if _single_channel(graph, node) else node
             for node in graph.nodes]
    if nodes == graph.nodes:
        return graph
    return dataclasses.replace(graph, tensors=tensors, nodes=nodes)


def _single_channel(graph: Graph, node: Node) -> bool:
    if node.op != "DEPTHWISE_CONV_2D" or node.attrs.get("depth_multiplier", 1) <= 1:
        return False
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    return len(x.shape) == 4 and x.shape[3] == 1 and w.data is not None and len(w.shape) == 4


def _as_conv(graph: Graph, node: Node, tensors: dict) -> Node:
    w = graph.tensor(node.inputs[1])
    name = f"{w.name}#as_conv"
    while name in tensors:
        name += "_"
    q = w.quant
    quant = None if q is None else QuantParams(q.scale, q.zero_point,
                                               0 if q.axis is not None else None)
    data = np.ascontiguousarray(np.transpose(w.data, (3, 1, 2, 0)))  # [M, kh, kw, 1]
    tensors[name] = dataclasses.replace(w, name=name, shape=data.shape, data=data,
                                        quant=quant)
    attrs = {k: v for k, v in node.attrs.items() if k != "depth_multiplier"}
    return dataclasses.replace(node, op="CONV_2D", inputs=[node.inputs[0], name,
                                                           *node.inputs[2:]], attrs=attrs)
