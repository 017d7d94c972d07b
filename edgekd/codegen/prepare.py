"""One record per layer, worked out once: what the generator knows about a layer.

``layer_record(graph, node)`` gives the layer's prepared integer parameters (the
registry's prepare function: the integers the numpy reference uses too), its candidate
kernels (codegen/kernel_table.py, target-specific first, the neutral one last), the
scratch each needs inside the shared plan and past it, the lead at which its output may
overlap its input (codegen/inplace.py), and the kernel every target can run. The arena
planner, the choice step (codegen/choice.py), fusion and rendering all read it; none
works these facts out again.

The generator treats graphs as values: a step that changes a layer (fusing an ADD,
marking it ``low_memory``) makes a new node (``dataclasses.replace``), so a record is
kept per node object and tensor table, and the many trial graphs of the choice step
share the records of the layers they did not change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from edgekd.codegen import kernel_table
from edgekd.codegen.residual import conv_of, residual_of
from edgekd.codegen.inplace import Window, raster_lead
from edgekd.codegen.kernel_table import KernelVariant, Layer
from edgekd.codegen.planner import ALIGNMENT
from edgekd.ir import Graph, Node

WINDOW_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D")


@dataclass(frozen=True, eq=False)
class LayerRecord:
    """The facts of one layer (the module docstring)."""

    graph: Graph
    node: Node

    @cached_property
    def layer(self) -> Layer:
        """The computation's own facts: the convolution of a fused layer."""
        return _layer(self.graph, conv_of(self.node))

    @property
    def params(self) -> Any:
        """The prepared parameters (of the convolution, for a fused layer)."""
        return self.layer.params

    @property
    def residual_params(self) -> Any:
        """The prepared parameters of a fused ADD (None: nothing fused)."""
        residual = residual_of(self.node)
        return _layer(self.graph, residual.add).params if residual is not None else None

    @cached_property
    def variants(self) -> tuple[KernelVariant, ...]:
        """The kernels the layer may call, target-specific ones first, the neutral last."""
        residual = residual_of(self.node)
        if residual is not None:
            return tuple(kernel_table.direct_candidates(
                self.layer, _layer(self.graph, residual.add)))
        if self.node.attrs.get("low_memory"):
            return tuple(kernel_table.direct_candidates(self.layer))
        return tuple(kernel_table.candidates(self.layer))

    @cached_property
    def direct(self) -> tuple[KernelVariant, ...]:
        """The kernels it would call switched to ``low_memory`` (none: it cannot be)."""
        if residual_of(self.node) is not None:
            return ()
        return tuple(kernel_table.direct_candidates(self.layer))

    @property
    def neutral(self) -> KernelVariant | None:
        """The chosen kernel of a build without target-specific kernels."""
        neutral = [v for v in self.variants if v.guard is None]
        return neutral[-1] if neutral else None

    @cached_property
    def scratch(self) -> int:
        """The most scratch (bytes) any kernel needs inside the shared plan, optional
        scratch counted where the layer is given it (``attrs["scratch_granted"]``)."""
        if self.node.op == "DYNAMIC_FULLY_CONNECTED":  # one int8 input row
            return self.graph.tensor(self.node.inputs[1]).shape[1]
        granted = bool(self.node.attrs.get("scratch_granted"))
        return max((max(v.scratch, v.optional_scratch if granted else 0)
                    for v in self.variants if not v.past_plan), default=0)

    @property
    def optional_scratch(self) -> int:
        """The most optional scratch (bytes) a kernel of the layer could use."""
        return max((v.optional_scratch for v in self.variants), default=0)

    @property
    def past_plan_scratch(self) -> int:
        """Scratch (bytes) the neutral build's kernel needs past the end of the plan."""
        return max((v.scratch for v in self.variants if v.past_plan), default=0)

    @cached_property
    def window(self) -> Window | None:
        """The geometry of a window op (conv, depthwise, pooling) on 4-D tensors."""
        node = conv_of(self.node)
        if node.op not in WINDOW_OPS:
            return None
        x, y = self.graph.tensor(node.inputs[0]), self.graph.tensor(node.outputs[0])
        if len(x.shape) != 4 or len(y.shape) != 4:
            return None
        p = self.params
        if node.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            kernel = self.layer.filter_shape[1:3]
            dilation = (p.dilation_h, p.dilation_w)
        else:
            kernel = (p.filter_h, p.filter_w)
            dilation = (1, 1)
        return Window(tuple(x.shape), tuple(y.shape), tuple(kernel),
                      (p.stride_h, p.stride_w), dilation, (p.pad_h, p.pad_w))

    @cached_property
    def lead(self) -> int | None:
        """The lead (bytes, >= 0) by which the output must start before the first input
        when they share bytes, valid for every kernel it may call; None when some kernel
        may not run in place."""
        return variants_lead(self.window, self.variants)


def variants_lead(window: Window | None, variants) -> int | None:
    """The lead valid for every one of ``variants`` (None: some has no write order),
    whole pixels long where a kernel sweeps the pixels once per channel group."""
    if window is None:
        return None
    leads, unit = [], 1
    for variant in variants:
        if variant.order is None:
            return None
        leads.append(raster_lead(window, variant.order))
        if variant.order.channel_major:  # a whole number of pixels (inplace.py)
            unit = math.lcm(window.in_shape[3], ALIGNMENT)
    if not leads:
        return None
    return -(-max(0, *leads) // unit) * unit


# node id -> (node, tensor table, kernel table, record); the objects are kept so that no
# id is reused while its entry lives.
_RECORDS: dict[int, tuple[Node, dict, tuple, LayerRecord]] = {}
_LAYERS: dict[int, tuple[Node, dict, Layer]] = {}
_LIMIT = 4096


def forget() -> None:
    """Drop every record: a new model is being generated (the records keep their graphs,
    weights included, alive)."""
    _RECORDS.clear()
    _LAYERS.clear()


def layer_record(graph: Graph, node: Node) -> LayerRecord:
    """The record of layer ``node`` of ``graph``, made at the first call."""
    entry = _RECORDS.get(id(node))
    if (entry is not None and entry[0] is node and entry[1] is graph.tensors
            and entry[2] is kernel_table.KERNELS):
        return entry[3]
    if len(_RECORDS) >= _LIMIT:
        _RECORDS.clear()
    record = LayerRecord(graph, node)
    _RECORDS[id(node)] = (node, graph.tensors, kernel_table.KERNELS, record)
    return record


def _layer(graph: Graph, node: Node) -> Layer:
    """The Layer facts of a node (a fused layer's convolution and ADD keep theirs)."""
    entry = _LAYERS.get(id(node))
    if entry is not None and entry[0] is node and entry[1] is graph.tensors:
        return entry[2]
    if len(_LAYERS) >= _LIMIT:
        _LAYERS.clear()
    layer = Layer(graph, node)
    _LAYERS[id(node)] = (node, graph.tensors, layer)
    return layer


def fused_direct(graph: Graph, conv: Node, add: Node) -> list[KernelVariant]:
    """The kernels ``conv`` would call with ``add`` fused into it ([]: it cannot be)."""
    return kernel_table.direct_candidates(_layer(graph, conv), _layer(graph, add))


def scratch_bytes(graph: Graph, index: int, node: Node) -> int:
    """The planner's ``scratch_bytes``: the record's in-plan scratch."""
    return layer_record(graph, node).scratch


def overlap_lead(graph: Graph, index: int, node: Node) -> int | None:
    """The planner's ``overlap``: the record's lead."""
    return layer_record(graph, node).lead
