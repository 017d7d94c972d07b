"""A depthwise convolution with a depth multiplier over few input channels, run as the
plain convolution it is.

With C input channels and a depth multiplier M, DEPTHWISE_CONV_2D computes output channel
o as ``bias[o] + sum over the window of w[tap][o] * (x[tap][o // M] + input_offset)``:
exactly CONV_2D with C * M output channels whose filter [C * M, kh, kw, C] holds the
depthwise weights at input channel o // M and zeros elsewhere (a zero weight adds exactly
nothing), with the same bias, padding, stride, dilation and per-channel requantization.
The code generator makes that swap where C <= MAX_INPUT_CHANNELS, so such layers
(micro_speech's 8x10 window with multiplier 8 on one channel, person_detect's first
layer) run on the convolution's fast kernels (im2col: the window is the dot product, four
output channels per pass) instead of the portable depthwise kernel (34 instructions per
MAC on a Cortex-M4); the zeros cost C times the multiplications and the flash of the
weights, bounded by the limit. The integers are the same ones, so the bytes are too.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from edgekd.ir import Graph, Node, QuantParams

MAX_INPUT_CHANNELS = 4


def with_multiplier_depthwise_as_conv(graph: Graph) -> Graph:
    """``graph`` with each DEPTHWISE_CONV_2D of at most MAX_INPUT_CHANNELS input channels
    and a depth multiplier above one replaced by its CONV_2D; the same graph when there is
    none."""
    tensors = dict(graph.tensors)
    nodes = [_as_conv(graph, node, tensors) if _few_channels(graph, node) else node
             for node in graph.nodes]
    if nodes == graph.nodes:
        return graph
    return dataclasses.replace(graph, tensors=tensors, nodes=nodes)


def _few_channels(graph: Graph, node: Node) -> bool:
    if node.op != "DEPTHWISE_CONV_2D" or node.attrs.get("depth_multiplier", 1) <= 1:
        return False
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    return (len(x.shape) == 4 and x.shape[3] <= MAX_INPUT_CHANNELS and w.data is not None
            and len(w.shape) == 4
            and w.shape[3] == x.shape[3] * node.attrs["depth_multiplier"])


def _as_conv(graph: Graph, node: Node, tensors: dict) -> Node:
    w = graph.tensor(node.inputs[1])
    name = f"{w.name}#as_conv"
    while name in tensors:
        name += "_"
    q = w.quant
    quant = None if q is None else QuantParams(q.scale, q.zero_point,
                                               0 if q.axis is not None else None)
    in_c = graph.tensor(node.inputs[0]).shape[3]
    multiplier = node.attrs["depth_multiplier"]
    out_c, kh, kw = w.shape[3], w.shape[1], w.shape[2]
    data = np.zeros((out_c, kh, kw, in_c), dtype=w.data.dtype)
    for o in range(out_c):
        data[o, :, :, o // multiplier] = w.data[0, :, :, o]
    tensors[name] = dataclasses.replace(w, name=name, shape=data.shape, data=data,
                                        quant=quant)
    attrs = {k: v for k, v in node.attrs.items() if k != "depth_multiplier"}
    return dataclasses.replace(node, op="CONV_2D", inputs=[node.inputs[0], name,
                                                           *node.inputs[2:]], attrs=attrs)
