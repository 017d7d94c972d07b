"""A PAD with the input's zero point folded into the convolution after it.

Front ends write zero padding that TFLite's SAME cannot express (a stride-2, padding-1
convolution on an even size, as in ResNet and MobileNetV2 downsampling; ONNX pads) as
PAD + VALID convolution, which TFLM runs as two ops. The convolution kernels already
treat every position outside the input as the input's zero point (a real 0), so a PAD of
exactly that value on the spatial axes only is the convolution's own padding: the
generator's graph drops the PAD and gives the convolution ``attrs["explicit_padding"]``
((top, bottom), (left, right)), which ``shapes.padding_of`` hands to the kernels. The
numpy reference keeps running the two ops, so the fused C is checked against them.
"""
from __future__ import annotations

import dataclasses

from edgekd.ir import Graph, Node

_CONVOLUTIONS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def fuse_pads(graph: Graph) -> Graph:
    """``graph`` with every foldable PAD folded into its convolution (a copy if any)."""
    readers: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for name in node.inputs:
            readers.setdefault(name, []).append(node)
    fused: dict[int, Node] = {}  # id of a convolution -> its fused replacement
    dropped: set[int] = set()
    for node in graph.nodes:
        conv = _foldable_into(graph, node, readers)
        if conv is None:
            continue
        paddings = node.attrs["paddings"]
        fused[id(conv)] = dataclasses.replace(
            conv, inputs=[node.inputs[0], *conv.inputs[1:]],
            attrs={**conv.attrs, "explicit_padding": (tuple(paddings[1]), tuple(paddings[2]))})
        dropped.add(id(node))
    if not dropped:
        return graph
    nodes = [fused.get(id(n), n) for n in graph.nodes if id(n) not in dropped]
    return dataclasses.replace(graph, nodes=nodes)


def _foldable_into(graph: Graph, pad: Node, readers) -> Node | None:
    """The convolution a PAD folds into, or None."""
    if pad.op != "PAD":
        return None
    x, y = graph.tensor(pad.inputs[0]), graph.tensor(pad.outputs[0])
    users = readers.get(y.name, [])
    if len(users) != 1 or y.name in graph.outputs or len(x.shape) != 4 or x.is_constant:
        return None
    conv = users[0]
    paddings = [tuple(p) for p in pad.attrs["paddings"]]
    if (conv.op not in _CONVOLUTIONS or conv.inputs[0] != y.name
            or conv.attrs["padding"] != "VALID" or "explicit_padding" in conv.attrs
            or paddings[0] != (0, 0) or paddings[3] != (0, 0)
            or x.quant is None or pad.attrs["pad_value"] != x.quant.scalar_zero_point):
        return None
    # Leading padding inside the first window: every kernel's window arithmetic holds.
    w = graph.tensor(conv.inputs[1])
    dilation = conv.attrs["dilation"]
    extent = [(w.shape[1] - 1) * dilation[0] + 1, (w.shape[2] - 1) * dilation[1] + 1]
    if paddings[1][0] >= extent[0] or paddings[2][0] >= extent[1]:
        return None
    return conv
