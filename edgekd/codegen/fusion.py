"""Residual ADDs fused into the convolution that computes one of their inputs.

A residual block ends with ``ADD(conv(y), skip)``. Run as two layers, the convolution's
output is a whole tensor that lives only until the ADD reads it; fused, each output
value is added to its skip value as soon as it is computed, and the result can be
written over the skip tensor byte for byte. In ResNet-8's first block this is what sets
the arena: the block input (the skip) and the first convolution's output must both be
alive while the second convolution runs, and without the fusion a third tensor (or a
lead of a row and a pixel for running that convolution in place) comes on top.

``fuse_add`` makes a copy of the generator's working graph in which an eligible ``ADD``
disappears into its producer ``CONV_2D``, which then reads the skip as a fourth input,
writes the ADD's output, and carries a ``ResidualAdd`` in ``attrs["residual"]`` with
the original nodes, from which the offline parameters of both ops are prepared exactly
as before (the convolution requantizes to its own output scale first). The generator
fuses where that lowers the arena (codegen/choice.py): the fused kernels save the ADD's
pass over memory but their per-value ADD costs about what the separate, specialized ADD
kernel does, and the direct kernels are slower than the fastest ones elsewhere. The
numpy reference keeps running the unfused graph: the C's bytes are checked against
exactly what TFLM computes with two ops.

An ADD is fused into the CONV_2D among its two producers that runs later, when that
convolution's output is read by the ADD alone (and is not a graph output), both ADD
inputs are computed (not constants) and have the same shape as its output, and the direct kernels, the only ones with a
fused ADD, can run the convolution on every target (``kernel_table.direct_candidates``) with
the ADD's parameters in the fast form.
"""
from __future__ import annotations

import dataclasses

from edgekd.codegen.prepare import fused_direct
from edgekd.codegen.residual import ResidualAdd
from edgekd.ir import Graph, Node


def fusable_adds(graph: Graph) -> list[int]:
    """Indices of the ADDs that may be fused into their producer CONV_2D (the module
    docstring says which)."""
    return [j for j in range(len(graph.nodes)) if _fusion(graph, j) is not None]


def fuse_add(graph: Graph, index: int) -> Graph:
    """A copy of ``graph`` with the ADD at ``index`` (one of ``fusable_adds``) fused into
    its producer CONV_2D, which takes the ADD's place in the outputs and keeps its own in
    the order; the tensor table is shared, the node list new."""
    found = _fusion(graph, index)
    if found is None:
        raise ValueError(f"graph {graph.name!r}: node {index} is no fusable ADD")
    i, residual = found
    conv = residual.conv
    operands = [*conv.inputs[:3], "", ""][:3]  # data, filter, bias ("" for none)
    fused = Node("CONV_2D", conv.name, [*operands, residual.skip], list(residual.add.outputs),
                 {**conv.attrs, "residual": residual})
    nodes = [fused if k == i else node for k, node in enumerate(graph.nodes) if k != index]
    return dataclasses.replace(graph, nodes=nodes)


def _fusion(graph: Graph, j: int) -> tuple[int, ResidualAdd] | None:
    """(index of the CONV_2D, the fusion) for the ADD at ``j``, or None."""
    add = graph.nodes[j]
    if add.op != "ADD" or len(add.inputs) != 2 or len(add.outputs) != 1:
        return None
    shapes = {graph.tensor(n).shape for n in (*add.inputs, add.outputs[0])}
    if (len(shapes) != 1 or add.inputs[0] == add.inputs[1]
            or any(graph.tensor(n).is_constant for n in add.inputs)):
        return None
    producer = {out: k for k, node in enumerate(graph.nodes) for out in node.outputs}
    sources = [producer.get(n, -1) for n in add.inputs]
    i = max(sources)
    if i < 0:
        return None
    conv = graph.nodes[i]
    operand = sources.index(i)
    middle = add.inputs[operand]
    readers = sum(middle in node.inputs for node in graph.nodes)
    if (conv.op != "CONV_2D" or "residual" in conv.attrs or readers != 1
            or middle in graph.outputs or not fused_direct(graph, conv, add)):
        return None
    return i, ResidualAdd(conv, add, operand)
