"""The generator's working graph: the residual ADDs fused and the kernels chosen that
lower the arena.

The fastest kernel of a convolution often needs scratch (Winograd's transformed tiles,
im2col's columns, Helium's gathered windows), and a residual ADD keeps its convolution's
output alive beside the skip. Where that sits on top of the arena's peak it costs RAM at
exactly the moment RAM is scarcest, so the generator weighs it. Starting from the fastest
kernels and no fusion, it takes the one step that lowers the arena most, re-plans, and
repeats until no step lowers it; the steps are:

- fusing a residual ADD into its convolution (codegen/fusion.py);
- switching a layer to the direct kernels (``ekd_conv2d_direct_s8*``, no scratch):
  ``attrs["low_memory"]``, only where a Helium build keeps a Helium kernel.

Layers away from the peak keep their fastest kernels, and ADDs away from it stay layers
of their own (the fused kernels are no faster). Last, a layer calling a direct kernel
that can use scratch (the Arm DSP one unpacks four pixels' windows once for every output
channel) gets it where the arena stays as it is (``attrs["scratch_granted"]``).
``edgekd compile --plan`` shows the result; docs/codegen.md the figures.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator

from edgekd.codegen.channels import with_constant_channels
from edgekd.codegen.depthwise import with_multiplier_depthwise_as_conv
from edgekd.codegen.fusion import fusable_adds, fuse_add
from edgekd.codegen.pad_fusion import fuse_pads
from edgekd.codegen.kernel_table import MVE
from edgekd.codegen.prepare import layer_record, overlap_lead, scratch_bytes
from edgekd.codegen.residual import residual_of
from edgekd.codegen.planner import ArenaPlan, plan_arena
from edgekd.ir import Graph


def generator_graph(graph: Graph) -> Graph:
    """``graph`` as the code generator runs it (the module docstring), its convolutions'
    constant channels first rewritten to keep them on the fast kernels (channels.py),
    depthwise layers with a multiplier over few channels as the convolutions they are
    (depthwise.py), PADs of the zero point folded into their convolutions (pad_fusion.py)."""
    graph = with_multiplier_depthwise_as_conv(graph)
    graph = _lower_arena(with_constant_channels(fuse_pads(graph)))
    plan = plan_for(graph)
    for index, node in enumerate(graph.nodes):
        if layer_record(graph, node).optional_scratch == 0:
            continue
        trial = _with_attr(graph, index, "scratch_granted")
        trial_plan = plan_for(trial)
        if trial_plan.arena_bytes <= plan.arena_bytes:
            graph, plan = trial, trial_plan
    return graph


def plan_for(graph: Graph) -> ArenaPlan:
    """The arena plan of a generator graph with its kernels' scratch and leads."""
    return plan_arena(graph, scratch_bytes=scratch_bytes, overlap=overlap_lead)


def _lower_arena(graph: Graph) -> Graph:
    """The greedy descent: the step that lowers the arena most, until none does."""
    plan = plan_for(graph)
    while True:
        best: tuple[Graph, ArenaPlan] | None = None
        for trial in _steps(graph):
            trial_plan = plan_for(trial)
            if trial_plan.arena_bytes < (best[1] if best else plan).arena_bytes:
                best = trial, trial_plan
        if best is None:
            return graph
        graph, plan = best


def _steps(graph: Graph) -> Iterator[Graph]:
    """Each graph one step away: an ADD fused, or a layer with scratch switched to the
    direct kernels."""
    for index in fusable_adds(graph):
        yield fuse_add(graph, index)
    for index, node in enumerate(graph.nodes):
        if (not node.attrs.get("low_memory") and residual_of(node) is None
                and layer_record(graph, node).scratch > 0
                and _direct_keeps_helium(layer_record(graph, node))):
            yield _with_attr(graph, index, "low_memory")


def _direct_keeps_helium(record) -> bool:
    """Whether the layer has direct kernels, Helium among them where its fastest kernels
    have a Helium one: a Helium build would otherwise fall to the Arm DSP direct kernel,
    50 % slower over resnet_large_int8 on the Cortex-M55 to save 2 KB of arena."""
    helium = any(v.guard == MVE for v in record.variants)
    return bool(record.direct) and (not helium or any(v.guard == MVE for v in record.direct))


def _with_attr(graph: Graph, index: int, attr: str) -> Graph:
    """A copy of ``graph`` whose node ``index`` has ``attrs[attr]`` set."""
    node = graph.nodes[index]
    nodes = list(graph.nodes)
    nodes[index] = dataclasses.replace(node, attrs={**node.attrs, attr: True})
    return dataclasses.replace(graph, nodes=nodes)
