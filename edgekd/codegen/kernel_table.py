"""Every C kernel the generated code may call, declared once, and how a layer picks.

A row (``Kernel``) names the C function, the op it computes, the C condition that
compiles it in (``guard``: None for a kernel every target builds, the portable one and
the optimized ones that use the Arm DSP extension where the core has it, portable C
elsewhere; ``EKD_HAVE_MVE``/``EKD_HAVE_DSP`` from ``edgekd/ekd.h`` otherwise), the C
source that defines it, the shapes it accepts, its scratch (bytes, as its C
``*_scratch_size`` computes), its write order (``inplace.RasterOrder``: how far the
layer's output may overlap its input; None: never in place) and the forms of the weights
it reads (``filter``: "model" as in the model, "packed16" conv rows padded to 16 bytes,
"packed4" depthwise channel blocks of four, "rows4" blocks of 4 output channels x 4
values, "winograd" transformed int16 weights; ``bias``: "model" or "folded", bias +
input_offset x the channel's weight sum; codegen/kernels.py packs them).

Selection (``candidates``), the generator playing CMSIS-NN's wrapper offline: every
guarded row of the op that accepts the layer, in table order, then the first unguarded
row that accepts (the portable kernel, last, accepts every layer). The generated call is
an ``#if`` chain over them in that order. A layer that must run without scratch
(``attrs["low_memory"]``, codegen/choice.py) or carries a fused ADD (codegen/fusion.py)
takes the ``direct`` rows instead (``direct_candidates``).

An op whose only kernel is the portable one of its registry entry (edgekd/registry.py)
needs no row: ``portable_row`` makes one (no write order, no scratch).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

from edgekd.codegen import optimized
from edgekd.codegen.inplace import RasterOrder
from edgekd.codegen.ranges import fast_shifts
from edgekd.ir import Graph, Node
from edgekd.registry import op_spec
from edgekd.shapes import is_broadcast_add

MVE = "EKD_HAVE_MVE"
DSP = "EKD_HAVE_DSP"


@dataclass(frozen=True, eq=False)
class Layer:
    """What the rows' predicates and formulas read of a layer: its node (the convolution
    of a fused layer), the graph and its prepared integer parameters (the registry's
    prepare function), each worked out once (codegen/prepare.py keeps one per layer)."""

    graph: Graph
    node: Node

    @cached_property
    def params(self) -> Any:
        prepare = op_spec(self.node.op).prepare
        return prepare(self.graph, self.node) if prepare else None

    @cached_property
    def filter_shape(self) -> tuple[int, int, int, int]:
        return tuple(self.graph.tensor(self.node.inputs[1]).shape)

    @property
    def in_c(self) -> int:
        return self.filter_shape[3]

    @property
    def depth(self) -> int:
        _, kh, kw, in_c = self.filter_shape
        return kh * kw * in_c

    @property
    def fc_depth(self) -> int:
        """A fully connected layer's input values per output (its weights [out, in])."""
        return self.graph.tensor(self.node.inputs[1]).shape[1]

    @property
    def out_w(self) -> int:
        return self.graph.tensor(self.node.outputs[0]).shape[2]

    @property
    def pointwise(self) -> bool:
        """A 1x1 convolution without padding."""
        _, kh, kw, _ = self.filter_shape
        return kh == 1 and kw == 1 and self.params.pad_h == 0 and self.params.pad_w == 0

    @cached_property
    def fast_shifts(self) -> bool:
        """Whether the Helium and optimized kernels take its requantization shifts (none
        above 30; codegen/ranges.py): else only the portable kernel runs the layer."""
        return fast_shifts(self.params)

    @cached_property
    def fast(self) -> bool:
        """What every optimized convolution needs (codegen/optimized.py)."""
        return optimized.fast_conv_ok(self.graph, self.node, self.params)

    @cached_property
    def winograd(self) -> bool:
        return self.fast and optimized.winograd_ok(self.graph, self.node, self.params)

    @property
    def packing(self) -> str:
        """The Helium convolutions' filter: whole 16-byte rows as they are, else padded."""
        return "model" if self.depth % 16 == 0 else "packed16"


Formula = Callable[[Layer], Any]


def _always(layer: Layer) -> bool:
    return True


def _zero(layer: Layer) -> int:
    return 0


def _none(layer: Layer) -> None:
    return None


def _order(group: int, reads_first: bool) -> Formula:
    return lambda layer: RasterOrder(group, reads_first)


def _fixed(value: str) -> Formula:
    return lambda layer: value


@dataclass(frozen=True)
class Kernel:
    """One C kernel (the module docstring)."""

    name: str
    op: str
    guard: str | None
    source: str  # runtime_c/src/<source>
    accepts: Formula = _always
    scratch: Formula = _zero
    order: Formula = _none
    filter: Formula = _fixed("model")
    bias: Formula = _fixed("model")
    direct: bool = False  # runs without scratch: the kernels of low-memory and fused layers
    # Its entry point with a residual ADD fused in (same source), if it has one.
    fused: str | None = None
    # Scratch it runs faster with and runs without when given none (codegen/choice.py).
    optional_scratch: Formula = _zero

    def variant(self, layer: Layer) -> KernelVariant:
        return KernelVariant(self.guard, self.name, self.order(layer), self.scratch(layer),
                             self.filter(layer), self.bias(layer), tap_sums=self.direct,
                             residual=self.direct,
                             optional_scratch=self.optional_scratch(layer))


@dataclass(frozen=True)
class KernelVariant:
    """One kernel a layer may call, its formulas evaluated for that layer: ``guard`` None
    for the ``#else``; ``past_plan``: its scratch lies past the end of the plan every
    other build shares (the builds that call it get a larger arena, docs/codegen.md)."""

    guard: str | None
    kernel: str
    order: RasterOrder | None
    scratch: int = 0
    filter: str = "model"
    bias: str = "model"
    tap_sums: bool = False  # takes the per-tap weight sums (the direct kernels)
    residual: bool = False  # takes an ekd_residual last (a fused ADD)
    past_plan: bool = False
    optional_scratch: int = 0


def _round16(n: int) -> int:
    return (n + 15) // 16 * 16


def _mve_conv_scratch(layer: Layer) -> int:
    # Four windows, and one more to gather kernel rows that are not whole vectors.
    _, _, kw, in_c = layer.filter_shape
    return (4 + ((kw * in_c) % 16 != 0)) * _round16(layer.depth)


KERNELS: tuple[Kernel, ...] = (
    # CONV_2D. Helium 1x1: up to 64 channels a pixel stays in registers; beyond, four
    # pixels are copied to scratch; either way read before written.
    Kernel("ekd_conv2d_1x1_s8_mve", "CONV_2D", MVE, "ekd_conv2d_1x1_s8_mve.c",
           accepts=lambda l: l.pointwise and l.fast_shifts,
           scratch=lambda l: 0 if l.in_c <= 64 else 4 * _round16(l.depth),
           order=lambda l: RasterOrder(1 if l.in_c <= 64 else 4, reads_first=True),
           filter=lambda l: l.packing, bias=_fixed("folded")),
    Kernel("ekd_conv2d_s8_mve", "CONV_2D", MVE, "ekd_conv2d_s8_mve.c",
           accepts=lambda l: not l.pointwise and l.fast_shifts, scratch=_mve_conv_scratch,
           order=_order(4, True), filter=lambda l: l.packing, bias=_fixed("folded")),
    # Winograd writes two 2x2 tiles at a time, after their reads; when it writes output
    # pixel q, pixels from q - out_w + 1 on (the rest of the tile row) may still read.
    Kernel("ekd_conv2d_winograd_s8", "CONV_2D", None, "ekd_conv2d_winograd_s8.c",
           accepts=lambda l: l.winograd,
           scratch=lambda l: optimized.winograd_scratch_bytes(l.in_c),
           order=lambda l: RasterOrder(l.out_w, False),
           filter=_fixed("winograd"), bias=_fixed("folded"),
           fused="ekd_conv2d_winograd_add_s8"),
    # The matrix kernels fill a block of four output pixels' columns before writing any.
    Kernel("ekd_conv2d_1x1_s8", "CONV_2D", None, "ekd_conv2d_1x1_s8.c",
           accepts=lambda l: l.fast and l.pointwise,
           scratch=lambda l: optimized.mat_mult_block_bytes(l.in_c), order=_order(4, True),
           filter=_fixed("rows4"), bias=_fixed("folded")),
    Kernel("ekd_conv2d_im2col_s8", "CONV_2D", None, "ekd_conv2d_im2col_s8.c",
           accepts=lambda l: l.fast,
           scratch=lambda l: optimized.mat_mult_block_bytes(l.depth), order=_order(4, True),
           filter=_fixed("rows4"), bias=_fixed("folded")),
    Kernel("ekd_conv2d_s8", "CONV_2D", None, "ekd_conv2d_s8.c", order=_order(1, False)),
    # The direct convolutions: no scratch, an optional fused residual ADD; the Helium one
    # where in_c % 16 == 0, the Arm DSP one (or C) where in_c % 4 == 0 (direct_candidates).
    Kernel("ekd_conv2d_direct_s8_mve", "CONV_2D", MVE, "ekd_conv2d_direct_s8_mve.c",
           accepts=lambda l: optimized.direct_ok(l.graph, l.node, l.params, 16),
           order=_order(4, False), bias=_fixed("folded"), direct=True),
    Kernel("ekd_conv2d_direct_s8", "CONV_2D", DSP, "ekd_conv2d_direct_s8.c",
           accepts=lambda l: optimized.direct_ok(l.graph, l.node, l.params, 4),
           order=_order(4, False), filter=_fixed("rows4"), bias=_fixed("folded"),
           direct=True, optional_scratch=lambda l: optimized.direct_block_bytes(l.depth)),
    # DEPTHWISE_CONV_2D: each pixel's channels four at a time, later channels' reads to come.
    Kernel("ekd_depthwise_conv2d_s8_mve", "DEPTHWISE_CONV_2D", MVE,
           "ekd_depthwise_conv2d_s8_mve.c",
           accepts=lambda l: l.node.attrs.get("depth_multiplier", 1) == 1 and l.fast_shifts,
           scratch=lambda l: _round16(l.graph.tensor(l.node.inputs[0]).shape[3]),
           order=_order(1, False), filter=_fixed("packed4"), bias=_fixed("folded")),
    # The fast depthwise kernel sweeps the pixels once per group of four channels (one
    # channel at a time for a group of fewer): a lead of whole pixels (inplace.py).
    Kernel("ekd_depthwise_conv2d_fast_s8", "DEPTHWISE_CONV_2D", None,
           "ekd_depthwise_conv2d_fast_s8.c", accepts=lambda l: l.fast,
           order=lambda l: RasterOrder(1, False, channel_major=True)),
    Kernel("ekd_depthwise_conv2d_s8", "DEPTHWISE_CONV_2D", None, "ekd_depthwise_conv2d_s8.c",
           order=_order(1, False)),
    # FULLY_CONNECTED (symmetric weights, any batch; never in place): Helium four rows
    # per pass, whole 16-byte rows as they are, else padded; DSP (or C) four rows per
    # pass on "rows4" weights.
    Kernel("ekd_fully_connected_s8_mve", "FULLY_CONNECTED", MVE,
           "ekd_fully_connected_s8_mve.c",
           accepts=lambda l: optimized.symmetric_fc(l.graph, l.node),
           filter=lambda l: "model" if l.fc_depth % 16 == 0 else "packed16",
           bias=_fixed("folded")),
    Kernel("ekd_fully_connected_fast_s8", "FULLY_CONNECTED", None,
           "ekd_fully_connected_fast_s8.c",
           accepts=lambda l: optimized.fast_fc_ok(l.graph, l.node, l.params),
           filter=_fixed("rows4"), bias=_fixed("folded")),
    Kernel("ekd_avgpool_s8_mve", "AVERAGE_POOL_2D", MVE, "ekd_avgpool_s8_mve.c",
           order=_order(1, False)),
    Kernel("ekd_avgpool_s8", "AVERAGE_POOL_2D", None, "ekd_avgpool_s8.c",
           order=_order(1, False)),
    Kernel("ekd_maxpool_s8", "MAX_POOL_2D", None, "ekd_maxpool_s8.c", order=_order(1, False)),
    # An ADD whose inputs differ in shape or include a constant: the broadcasting kernel
    # only; the elementwise ones take two computed inputs of one shape.
    Kernel("ekd_add_broadcast_s8", "ADD", None, "ekd_add_broadcast_s8.c",
           accepts=lambda l: is_broadcast_add(l.graph, l.node)),
    Kernel("ekd_add_s8_mve", "ADD", MVE, "ekd_add_s8_mve.c",
           accepts=lambda l: not is_broadcast_add(l.graph, l.node)),
    Kernel("ekd_add_fast_s8", "ADD", None, "ekd_add_fast_s8.c",
           accepts=lambda l: optimized.add_fast_ok(l.graph, l.node, l.params)),
    # The LSTM keeps its gates and both states in scratch (ekd_lstm_s8_scratch_size).
    Kernel("ekd_lstm_s8", "UNIDIRECTIONAL_SEQUENCE_LSTM", None, "ekd_lstm_s8.c",
           scratch=lambda l: l.params.batch * l.params.units * (4 * 2 + 2 + 1)),
)


def row(name: str) -> Kernel:
    """The row of the kernel called ``name``."""
    return next(k for k in KERNELS if k.name == name)


def portable_row(op: str) -> Kernel | None:
    """The row of an op's portable kernel (its registry entry's ``c_kernel``): declared in
    KERNELS, or made from the registry; None for an op without a kernel (RESHAPE)."""
    name = op_spec(op).c_kernel
    if name is None:
        return None
    return next((k for k in KERNELS if k.name == name),
                Kernel(name, op, None, f"{name}.c"))


def rows_of(op: str) -> list[Kernel]:
    """The rows of an op, in selection order, its portable kernel last."""
    portable = portable_row(op)
    rows = [k for k in KERNELS if k.op == op and k is not portable]
    return rows + ([portable] if portable else [])


def candidates(layer: Layer) -> list[KernelVariant]:
    """The kernels the layer may call: the guarded rows that accept it, then the first
    unguarded one that does."""
    rows = [k for k in rows_of(layer.node.op) if not k.direct]
    guarded = [k.variant(layer) for k in rows if k.guard is not None and k.accepts(layer)]
    neutral = next((k for k in rows if k.guard is None and k.accepts(layer)), None)
    return guarded + ([neutral.variant(layer)] if neutral else [])


def direct_candidates(conv: Layer, add: Layer | None = None) -> list[KernelVariant]:
    """The kernels of a layer that must run without scratch, ``add`` fused into it or
    not: the direct rows that accept it, Helium first; [] when the convolution (or the
    ADD) does not allow them.

    A build with neither Helium nor DSP keeps the layer's fastest kernel, the direct one
    being 2-3x slower in portable C on a Cortex-M3 or RV32, with its scratch past the end
    of the shared plan: with an ADD fused in, Winograd where the layer allows (it takes
    the ADD too: a row with a ``fused`` entry point), else the direct kernel without its
    guard."""
    fused = add is not None
    rows = [k for k in rows_of(conv.node.op) if k.direct]
    if not rows or not rows[-1].accepts(conv) or (
            fused and not optimized.add_fast_ok(add.graph, add.node, add.params)):
        return []
    variants = [k.variant(conv) for k in rows if k.accepts(conv)]
    fast = candidates(conv)[-1]
    if fast.kernel != op_spec(conv.node.op).c_kernel:
        name = row(fast.kernel).fused if fused else fast.kernel
        if name:
            return [*variants, dataclasses.replace(fast, kernel=name, residual=fused,
                                                   past_plan=True)]
    return [*variants[:-1], dataclasses.replace(variants[-1], guard=None)]
