"""Which C kernels a layer may call, and what each needs prepared offline.

The portable C99 kernel of an op (``edgekd.registry``) runs everywhere. Where a faster
kernel exists for some targets, the generated call becomes an ``#if`` chain over the
layer's ``KernelVariant``s, chosen by the compiler's target macros (``EKD_HAVE_MVE`` in
``edgekd/ekd.h``), the portable kernel last. The generator plays CMSIS-NN's wrapper: it
picks each layer's variants from the shapes, offline.

A variant states what it reads in a form of its own (a folded bias, a packed filter,
arrays guarded by the variant's condition so other builds carry none of them), the
scratch it needs (the plan gives a layer the most any of its variants needs) and its
write order (``inplace.RasterOrder``), from which the planner computes how far the
layer's output may overlap its input; a layer runs in place only when every variant it
may call has a write order, and at the lead all of them allow.
"""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from edgekd.codegen.fusion import conv_of, residual_of
from edgekd.codegen.inplace import RasterOrder, Window, raster_lead
from edgekd.codegen.optimized import add_fast_ok, direct_ok, optimized_kernel, symmetric_fc
from edgekd.ir import Graph, Node
from edgekd.reference import params as prepare
from edgekd.registry import op_spec

MVE = "EKD_HAVE_MVE"
DSP = "EKD_HAVE_DSP"

# The direct convolutions (no scratch, optional fused residual ADD): ekd_conv2d_direct_s8
# (Arm DSP, or C), the Helium build its own where in_c % 16 == 0.
DIRECT = "ekd_conv2d_direct_s8"
DIRECT_MVE = "ekd_conv2d_direct_s8_mve"
WINOGRAD, WINOGRAD_ADD = "ekd_conv2d_winograd_s8", "ekd_conv2d_winograd_add_s8"
DIRECT_ORDERS = {DIRECT: RasterOrder(4, reads_first=False),
                 DIRECT_MVE: RasterOrder(4, reads_first=False)}

# Write orders of the portable kernels (runtime_c/src/): each computes one output value
# at a time, pixel by pixel in raster order, and stores it at once.
PORTABLE_ORDERS: dict[str, RasterOrder] = {
    "ekd_conv2d_s8": RasterOrder(group=1, reads_first=False),
    "ekd_depthwise_conv2d_s8": RasterOrder(group=1, reads_first=False),
    "ekd_avgpool_s8": RasterOrder(group=1, reads_first=False),
    "ekd_maxpool_s8": RasterOrder(group=1, reads_first=False),
}

WINDOW_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D")


@dataclass(frozen=True)
class KernelVariant:
    """One kernel a layer may call. ``guard``: the C condition that selects it (None for
    the portable kernel, the ``#else``). ``filter``/``bias``: which form of the weights
    and bias it reads ("model": as in the model; "folded": bias + input_offset * sum of
    the channel's weights; "packed16": conv filter rows padded to 16 bytes; "packed4":
    depthwise weights in channel blocks of four; "rows4" and "winograd": the optimized
    kernels' blocks of 4 output channels x 4 values and Winograd-transformed int16
    weights, codegen/optimized.py)."""

    guard: str | None
    kernel: str
    order: RasterOrder | None
    scratch: int = 0
    filter: str = "model"
    bias: str = "model"
    tap_sums: bool = False  # takes the per-tap weight sums (the direct kernels)
    residual: bool = False  # takes an ekd_residual last (a fused ADD)
    # Its scratch lies past the end of the plan every other build shares: the builds that
    # call it get a larger arena (below, and docs/codegen.md).
    past_plan: bool = False
    # Scratch it runs faster with, and runs without when the layer is given none
    # (codegen/choice.py gives it where the arena does not grow).
    optional_scratch: int = 0


def direct_variants(graph: Graph, conv: Node, add: Node | None = None
                    ) -> list[KernelVariant]:
    """The kernels of a layer that must run without scratch (marked ``low_memory`` by
    codegen/choice.py, or with ``add`` fused into it, codegen/fusion.py): the direct
    kernels on Helium and Arm DSP builds, Helium first; [] when the convolution (or the
    ADD) does not allow them.

    A build with neither keeps the layer's fastest kernel, the direct one being 2-3x
    slower in portable C on a Cortex-M3 or RV32, with its scratch past the end of the
    shared plan: with an ADD fused in, Winograd where the layer allows (it takes the
    ADD too), else the direct kernel."""
    fused = add is not None
    if not direct_ok(graph, conv, 4) or (fused and not add_fast_ok(graph, add)):
        return []
    variants = []
    if direct_ok(graph, conv, 16):
        variants.append(KernelVariant(MVE, DIRECT_MVE, DIRECT_ORDERS[DIRECT_MVE],
                                      bias="folded", tap_sums=True, residual=True))
    _, kh, kw, in_c = graph.tensor(conv.inputs[1]).shape
    direct = KernelVariant(DSP, DIRECT, DIRECT_ORDERS[DIRECT], filter="rows4",
                           bias="folded", tap_sums=True, residual=True,
                           optional_scratch=direct_block_bytes(kh * kw * in_c))
    fast = optimized_kernel(graph, conv)
    if fast is not None and (not fused or fast.kernel == WINOGRAD):
        order = RasterOrder(fast.group, fast.reads_first, fast.channel_pass) if fast.group else None
        kernel = WINOGRAD_ADD if fused else fast.kernel
        return [*variants, direct,
                KernelVariant(None, kernel, order, scratch=fast.scratch, filter=fast.filter,
                              bias=fast.bias, residual=fused, past_plan=True)]
    return [*variants, dataclasses.replace(direct, guard=None)]


# While a model is generated (``variants_cached``): layer_variants by (tensor table, node)
# object, each entry holding its node so that no id is reused. The generator asks for the
# same layers' variants thousands of times while it weighs its choices (codegen/choice.py),
# each answer a pass over the weights; nothing changes the graph meanwhile. Each entry
# holds its node and tensor table, so that neither id is reused while it is remembered.
_VARIANTS: dict[tuple[int, int], tuple[Node, dict, list[KernelVariant]]] | None = None


@contextmanager
def variants_cached() -> Iterator[None]:
    """Remember layer_variants' answers inside the block (one model's generation)."""
    global _VARIANTS
    outer, _VARIANTS = _VARIANTS, {} if _VARIANTS is None else _VARIANTS
    try:
        yield
    finally:
        _VARIANTS = outer


def layer_variants(graph: Graph, node: Node) -> list[KernelVariant]:
    """The kernels layer ``node`` may call, target-specific ones first, portable last."""
    if _VARIANTS is None:
        return _layer_variants(graph, node)
    key = (id(graph.tensors), id(node))
    if key not in _VARIANTS:
        _VARIANTS[key] = node, graph.tensors, _layer_variants(graph, node)
    return _VARIANTS[key][2]


def _layer_variants(graph: Graph, node: Node) -> list[KernelVariant]:
    residual = residual_of(node)
    if residual is not None:
        return direct_variants(graph, residual.conv, residual.add)
    if node.attrs.get("low_memory"):
        return direct_variants(graph, node)
    portable = op_spec(node.op).c_kernel
    variants: list[KernelVariant] = []
    if node.op == "CONV_2D":
        w = graph.tensor(node.inputs[1])
        p = prepare.prepare_conv(graph, node)
        _, kh, kw, in_c = w.shape
        depth = kh * kw * in_c
        packing = "model" if depth % 16 == 0 else "packed16"
        if kh == 1 and kw == 1 and p.pad_h == 0 and p.pad_w == 0:
            # Up to 64 channels a pixel stays in registers; beyond, four pixels are
            # copied to scratch; either way read before written.
            if in_c <= 64:
                variants.append(KernelVariant(MVE, "ekd_conv2d_1x1_s8_mve",
                                              RasterOrder(1, reads_first=True),
                                              filter=packing, bias="folded"))
            else:
                variants.append(KernelVariant(MVE, "ekd_conv2d_1x1_s8_mve",
                                              RasterOrder(4, reads_first=True),
                                              scratch=4 * _round16(depth), filter=packing,
                                              bias="folded"))
        else:
            # Four windows, and one more to gather kernel rows that are not whole vectors.
            windows = 4 + ((kw * in_c) % 16 != 0)
            variants.append(KernelVariant(MVE, "ekd_conv2d_s8_mve",
                                          RasterOrder(4, reads_first=True),
                                          scratch=windows * _round16(depth), filter=packing,
                                          bias="folded"))
    elif node.op == "DEPTHWISE_CONV_2D":
        if node.attrs.get("depth_multiplier", 1) == 1:
            channels = graph.tensor(node.inputs[0]).shape[3]
            variants.append(KernelVariant(MVE, "ekd_depthwise_conv2d_s8_mve",
                                          RasterOrder(1, False), scratch=_round16(channels),
                                          filter="packed4", bias="folded"))
    elif node.op == "FULLY_CONNECTED":
        if symmetric_fc(graph, node):
            depth = graph.tensor(node.inputs[1]).shape[1]
            variants.append(KernelVariant(MVE, "ekd_fully_connected_s8_mve", None,
                                          filter="model" if depth % 16 == 0 else "packed16",
                                          bias="folded"))
    elif node.op == "AVERAGE_POOL_2D":
        variants.append(KernelVariant(MVE, "ekd_avgpool_s8_mve", RasterOrder(1, False)))
    elif node.op == "ADD":
        variants.append(KernelVariant(MVE, "ekd_add_s8_mve", None))
    fast = optimized_kernel(graph, node)  # every target: Arm DSP where present, else C
    if fast is not None:
        order = RasterOrder(fast.group, fast.reads_first, fast.channel_pass) if fast.group else None
        variants.append(KernelVariant(None, fast.kernel, order, scratch=fast.scratch,
                                      filter=fast.filter, bias=fast.bias))
    elif portable:
        variants.append(KernelVariant(None, portable, PORTABLE_ORDERS.get(portable)))
    return variants


def window_of(graph: Graph, node: Node) -> Window | None:
    """The geometry of a window op (conv, depthwise, pooling) on 4-D tensors."""
    if node.op not in WINDOW_OPS:
        return None
    node = conv_of(node)
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    if len(x.shape) != 4 or len(y.shape) != 4:
        return None
    if node.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        p = prepare.prepare_conv(graph, node)
        w = graph.tensor(node.inputs[1])
        kernel = (w.shape[1], w.shape[2])
        dilation = (p.dilation_h, p.dilation_w)
    else:
        p = prepare.prepare_pool(graph, node)
        kernel = (p.filter_h, p.filter_w)
        dilation = (1, 1)
    return Window(tuple(x.shape), tuple(y.shape), kernel, (p.stride_h, p.stride_w), dilation,
                  (p.pad_h, p.pad_w))


def inplace_lead(graph: Graph, node: Node) -> int | None:
    """The lead (bytes, >= 0) by which layer ``node``'s output must start before its
    first input when they share bytes, valid for every kernel it may call; None when
    some kernel may not run in place."""
    window = window_of(graph, node)
    if window is None:
        return None
    leads = []
    for variant in layer_variants(graph, node):
        if variant.order is None:
            return None
        lead = raster_lead(window, variant.order)
        if lead is None:
            return None
        leads.append(lead)
    return max(0, *leads) if leads else None


def direct_block_bytes(depth: int) -> int:
    """ekd_conv2d_direct_s8_scratch_size on an Arm DSP build: four pixels' windows of
    ``depth`` values unpacked to int16 once, shared by every output channel."""
    return 8 * depth


def scratch_bytes(graph: Graph, node: Node) -> int:
    """The most scratch (bytes) any kernel of the layer needs inside the shared plan,
    optional scratch counted where the layer is given it (``scratch_granted``)."""
    granted = bool(node.attrs.get("scratch_granted"))
    return max((max(v.scratch, v.optional_scratch if granted else 0)
                for v in layer_variants(graph, node) if not v.past_plan), default=0)


def optional_scratch(graph: Graph, node: Node) -> int:
    """The most optional scratch (bytes) a kernel of the layer could use."""
    return max((v.optional_scratch for v in layer_variants(graph, node)), default=0)


def past_plan_scratch(graph: Graph, node: Node) -> int:
    """Scratch (bytes) the layer's kernel for a build without DSP or Helium needs past
    the end of the shared plan (0: none)."""
    return max((v.scratch for v in layer_variants(graph, node) if v.past_plan), default=0)


def variant_operands(graph: Graph, node: Node, variant: KernelVariant
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """The filter and bias (None: no bias) of a conv or depthwise layer in the forms
    ``variant`` reads (KernelVariant.filter and .bias)."""
    from edgekd.codegen import optimized

    node = conv_of(node)
    w = graph.tensor(node.inputs[1]).data
    b = graph.tensor(node.inputs[2]).data if len(node.inputs) > 2 and node.inputs[2] else None
    depthwise = node.op == "DEPTHWISE_CONV_2D"
    packings = {"model": lambda: w, "packed16": lambda: packed_conv_filter(w),
                "packed4": lambda: packed_depthwise_filter(w),
                "rows4": lambda: optimized.rows4_filter(w),
                "winograd": lambda: optimized.winograd_filter(w)}
    filt = packings[variant.filter]()
    if variant.bias == "folded":
        b = folded_bias(w, b, prepare.prepare_conv(graph, node).input_offset, depthwise)
    return filt, b


def folded_bias(weights: np.ndarray, bias: np.ndarray | None, input_offset: int,
                depthwise: bool = False) -> np.ndarray:
    """bias[c] + input_offset * (sum of channel c's weights), wrapping modulo 2^32 as the
    int32 accumulators do. ``weights``: [out_c, kh, kw, in_c] (conv) or [1, kh, kw, c]
    (depthwise)."""
    w = np.asarray(weights, dtype=np.int64)
    sums = w.reshape(-1, w.shape[-1]).sum(axis=0) if depthwise else \
        w.reshape(w.shape[0], -1).sum(axis=1)
    base = np.zeros(sums.shape, dtype=np.int64) if bias is None else \
        np.asarray(bias, dtype=np.int64).reshape(-1)
    total = (base + int(input_offset) * sums) & 0xFFFFFFFF
    return total.astype(np.uint32).view(np.int32)


def tap_sums(weights: np.ndarray) -> np.ndarray:
    """Conv weights [out_c, kh, kw, in_c] summed over the input channels of each tap:
    int32 [kh * kw][out_c], what the direct kernels (ekd_conv2d_direct_s8*) subtract,
    times the input offset, for the taps of a window that lie in the padding."""
    w = np.asarray(weights, dtype=np.int64)
    sums = w.sum(axis=3).reshape(w.shape[0], -1).T  # [kh * kw][out_c]
    return np.ascontiguousarray(sums.astype(np.int32))


def _round16(n: int) -> int:
    return (n + 15) // 16 * 16


def packed_conv_filter(weights: np.ndarray) -> np.ndarray:
    """Conv weights [out_c, kh, kw, in_c] as rows padded with zeros to a multiple of 16
    bytes, [out_c][round_up(kh * kw * in_c, 16)]: whole vectors, no read past a row."""
    w = np.asarray(weights, dtype=np.int8)
    rows = w.reshape(w.shape[0], -1)
    padded = np.zeros((rows.shape[0], _round16(rows.shape[1])), dtype=np.int8)
    padded[:, :rows.shape[1]] = rows
    return padded.reshape(-1)


def packed_depthwise_filter(weights: np.ndarray) -> np.ndarray:
    """Depthwise weights [1, kh, kw, c] as [ceil(c / 4)][kh * kw][4], the last block
    zero-filled: each block of four channels reads its taps front to back."""
    w = np.asarray(weights, dtype=np.int8)
    taps, channels = w.shape[1] * w.shape[2], w.shape[3]
    blocks = (channels + 3) // 4
    padded = np.zeros((taps, blocks * 4), dtype=np.int8)
    padded[:, :channels] = w.reshape(taps, channels)
    return np.ascontiguousarray(padded.reshape(taps, blocks, 4).transpose(1, 0, 2)).reshape(-1)
