"""The generator's working graph: residual ADDs fused, and the kernels that lower the arena.

The fastest kernel of a convolution often needs scratch (Winograd's transformed tiles,
im2col's columns, Helium's gathered windows). Where that scratch sits on top of the
arena's peak, it costs RAM at exactly the moment RAM is scarcest, so the generator
weighs it: starting from the fastest kernels, it marks ``low_memory`` the layer whose
switch to the direct kernels (``ekd_conv2d_direct_s8*``: no scratch) lowers the arena
most, re-plans, and repeats until no switch lowers it. Layers away from the peak keep
their fastest kernels. A direct kernel that can use scratch (the Arm DSP one unpacks four
pixels' windows once for every output channel) gets it where the arena stays as it is.
``edgekd compile --plan`` shows the result; docs/codegen.md the figures.
"""
from __future__ import annotations

import dataclasses

from edgekd.codegen.fusion import fuse_residual_adds, residual_of
from edgekd.codegen import kernels
from edgekd.codegen.layers import overlap_lead, scratch_bytes
from edgekd.codegen.planner import ArenaPlan, plan_arena
from edgekd.ir import Graph, Node


def generator_graph(graph: Graph) -> Graph:
    """``graph`` as the code generator runs it: ADDs fused (fusion.py), then the
    low-memory kernels chosen (this module)."""
    return choose_low_memory(fuse_residual_adds(graph))


def plan_for(graph: Graph) -> ArenaPlan:
    """The arena plan of a generator graph with its kernels' scratch and leads."""
    return plan_arena(graph, scratch_bytes=scratch_bytes, overlap=overlap_lead)


def choose_low_memory(graph: Graph) -> Graph:
    """A copy of ``graph`` with ``attrs["low_memory"]`` set on the layers whose direct
    kernels lower the arena, chosen greedily (the module docstring), then
    ``attrs["scratch_granted"]`` on the layers whose kernel's optional scratch fits
    without growing it."""
    graph = _lower_arena(graph)
    plan = plan_for(graph)
    for index, node in enumerate(graph.nodes):
        if kernels.optional_scratch(graph, node) == 0:
            continue
        trial = _with_node(graph, index, dataclasses.replace(
            node, attrs={**node.attrs, "scratch_granted": True}))
        trial_plan = plan_for(trial)
        if trial_plan.arena_bytes <= plan.arena_bytes:
            graph, plan = trial, trial_plan
    return graph


def _lower_arena(graph: Graph) -> Graph:
    plan = plan_for(graph)
    while True:
        best: tuple[Graph, ArenaPlan] | None = None
        for index, node in enumerate(graph.nodes):
            if (node.attrs.get("low_memory") or residual_of(node) is not None
                    or scratch_bytes(graph, index, node) == 0
                    or not kernels.direct_variants(graph, node)):
                continue
            trial = _with_node(graph, index, dataclasses.replace(
                node, attrs={**node.attrs, "low_memory": True}))
            trial_plan = plan_for(trial)
            if trial_plan.arena_bytes < (best[1] if best else plan).arena_bytes:
                best = trial, trial_plan
        if best is None:
            return graph
        graph, plan = best


def _with_node(graph: Graph, index: int, node: Node) -> Graph:
    nodes = list(graph.nodes)
    nodes[index] = node
    return dataclasses.replace(graph, nodes=nodes)
