"""Residual ADDs fused into the convolution that computes one of their inputs.

A residual block ends with ``ADD(conv(y), skip)``. Run as two layers, the convolution's
output is a whole tensor that lives only until the ADD reads it; fused, each output
value is added to its skip value as soon as it is computed, and the result can be
written over the skip tensor byte for byte. In ResNet-8's first block this is what sets
the arena: the block input (the skip) and the first convolution's output must both be
alive while the second convolution runs, and without the fusion a third tensor (or a
lead of a row and a pixel for running that convolution in place) comes on top.

``fuse_residual_adds`` makes the generator's working copy of a graph: each eligible
``ADD`` disappears into its producer ``CONV_2D``, which then reads the skip as a fourth
input, writes the ADD's output, and carries a ``ResidualAdd`` in ``attrs["residual"]``
with the original nodes, from which the offline parameters of both ops are prepared
exactly as before (the convolution requantizes to its own output scale first). The
numpy reference keeps running the unfused graph: the C's bytes are checked against
exactly what TFLM computes with two ops.

An ADD is fused into the CONV_2D among its two producers that runs later, when that
convolution's output is read by the ADD alone (and is not a graph output), both ADD
inputs are computed (not constants) and have the same shape as its output, and the direct kernels, the only ones with a
fused ADD, can run the convolution on every target (``kernels.direct_variants``) with
the ADD's parameters in the fast form.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from edgekd.ir import Graph, Node


@dataclass(frozen=True)
class ResidualAdd:
    """A fused ADD: the original ``conv`` and ``add`` nodes, and which of the ADD's two
    inputs (0 or 1) the convolution computes."""

    conv: Node
    add: Node
    conv_operand: int

    @property
    def skip(self) -> str:
        """The ADD's other input: the residual the fused layer reads."""
        return self.add.inputs[1 - self.conv_operand]


def residual_of(node: Node) -> ResidualAdd | None:
    return node.attrs.get("residual")


def conv_of(node: Node) -> Node:
    """The convolution a layer computes: the original CONV_2D of a fused layer (whose
    output tensor, scale and zero point its parameters come from), else the node."""
    residual = residual_of(node)
    return residual.conv if residual is not None else node


def fuse_residual_adds(graph: Graph) -> Graph:
    """A copy of ``graph`` with each eligible ADD fused into its producer CONV_2D (the
    module docstring says which); the tensor table is shared, the node list new."""
    from edgekd.codegen.kernels import direct_variants  # kernels imports this module

    producer = {out: i for i, node in enumerate(graph.nodes) for out in node.outputs}
    readers: dict[str, int] = {}
    for node in graph.nodes:
        for name in node.inputs:
            if name:
                readers[name] = readers.get(name, 0) + 1
    fused: dict[int, Node] = {}  # conv index -> fused node
    dropped: set[int] = set()  # ADD indices
    for j, add in enumerate(graph.nodes):
        if add.op != "ADD" or len(add.inputs) != 2 or len(add.outputs) != 1:
            continue
        shapes = {graph.tensor(n).shape for n in (*add.inputs, add.outputs[0])}
        sources = [producer.get(n, -1) for n in add.inputs]
        i = max(sources)
        if (len(shapes) != 1 or i < 0 or i in fused or add.inputs[0] == add.inputs[1]
                or any(graph.tensor(n).is_constant for n in add.inputs)):
            continue
        conv = graph.nodes[i]
        operand = sources.index(i)
        middle = add.inputs[operand]
        if (conv.op != "CONV_2D" or readers.get(middle) != 1 or middle in graph.outputs
                or not direct_variants(graph, conv, add)):
            continue
        residual = ResidualAdd(conv, add, operand)
        operands = [*conv.inputs[:3], "", ""][:3]  # data, filter, bias ("" for none)
        fused[i] = Node("CONV_2D", conv.name, [*operands, residual.skip],
                        list(add.outputs), {**conv.attrs, "residual": residual})
        dropped.add(j)
    nodes = [fused.get(i, node) for i, node in enumerate(graph.nodes) if i not in dropped]
    return dataclasses.replace(graph, nodes=nodes)
