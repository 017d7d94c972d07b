"""The layout ops as strided copies: what ``ekd_copy_s8`` (runtime_c/src/ekd_copy_s8.c) runs for
PAD, CONCATENATION, STRIDED_SLICE, TRANSPOSE, TILE and GATHER (one copy per index).

Each operand becomes one copy: the region it fills (one count per axis), where the region
starts in the source and in the output, and how far one step along each axis moves in
each. Axes of extent 1 are dropped and axes that are contiguous in both are merged, so
that what is left is a few nested loops around one ``memcpy`` of the longest contiguous
run (a whole concatenated row, a whole padded line).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from edgekd.errors import UnsupportedError
from edgekd.ir import Graph, Node

MAX_RANK = 8  # EKD_COPY_MAX_RANK


@dataclass(frozen=True)
class Copy:
    """One ekd_copy_s8 call: ``source`` (a tensor name) from byte ``src_offset`` to the
    output from byte ``dst_offset``; strides in bytes, outer axes first."""

    source: str
    src_offset: int
    dst_offset: int
    run_bytes: int
    count: tuple[int, ...]
    src_stride: tuple[int, ...]
    dst_stride: tuple[int, ...]

    def fields(self) -> list[tuple[str, str]]:
        """ekd_copy_params initializers (arrays as C brace lists)."""
        def brace(values):
            return "{" + ", ".join(str(v) for v in values) + "}" if values else "{0}"
        return [("rank", str(len(self.count))), ("run_bytes", str(self.run_bytes)),
                ("count", brace(self.count)), ("src_stride", brace(self.src_stride)),
                ("dst_stride", brace(self.dst_stride))]


@dataclass(frozen=True)
class LayoutPlan:
    """A layout layer: an optional fill of the whole output (PAD's border), then copies."""

    fill: int | None  # the byte value, or None
    copies: list[Copy]


def contiguous_strides(shape) -> list[int]:
    """Element strides of a C-ordered array of ``shape``."""
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return strides[::-1]


def layout_plan(graph: Graph, node: Node) -> LayoutPlan:
    """The fill and copies that compute ``node``'s output."""
    y = graph.tensor(node.outputs[0])
    a = node.attrs
    out = contiguous_strides(y.shape)
    sources = [n for n in node.inputs if n]
    x = graph.tensor(sources[0])
    inner = contiguous_strides(x.shape)
    item = y.itemsize
    if node.op == "PAD":
        before = [p[0] for p in a["paddings"]]
        copy = _copy(x.name, x.shape, inner, out, 0, _dot(before, out), item)
        border = any(p[0] or p[1] for p in a["paddings"])
        return LayoutPlan(a["pad_value"] & 0xFF if border else None, _present(copy))
    if node.op == "CONCATENATION":
        axis, start, copies = a["axis"], 0, []
        for name in sources:
            shape = list(graph.tensor(name).shape)
            if len(shape) < len(y.shape):
                shape.insert(axis, 1)  # PACK
            copies += _present(_copy(name, shape, contiguous_strides(shape), out, 0,
                                     start * out[axis], item))
            start += shape[axis]
        return LayoutPlan(None, copies)
    if node.op == "STRIDED_SLICE":
        size = a["size"]
        copy = _copy(x.name, size, [i * s for i, s in zip(inner, a["strides"])],
                     contiguous_strides(size), _dot(a["begin"], inner), 0, item)
        return LayoutPlan(None, _present(copy))
    if node.op == "TRANSPOSE":
        copy = _copy(x.name, y.shape, [inner[p] for p in a["perm"]], out, 0, 0, item)
        return LayoutPlan(None, _present(copy))
    if node.op == "TILE":
        count, src, dst = [], [], []
        for d, m, i, o in zip(x.shape, a["multiples"], inner, out):
            count += [m, d]
            src += [0, i]
            dst += [d * o, o]
        return LayoutPlan(None, _present(_copy(x.name, count, src, dst, 0, 0, item)))
    if node.op == "GATHER":  # one copy per index: the slice [outer, 1, inner]
        axis, copies = a["axis"], []
        outer = math.prod(x.shape[:axis])
        inner = math.prod(x.shape[axis + 1:])
        for k, index in enumerate(a["indices"]):
            copies += _present(_copy(x.name, (outer, inner), (inner * x.shape[axis], 1),
                                     (inner * len(a["indices"]), 1), index * inner,
                                     k * inner, item))
        return LayoutPlan(None, copies)
    raise UnsupportedError(f"{node.op} is not a layout op")


def _dot(a, b) -> int:
    return sum(int(i) * int(j) for i, j in zip(a, b))


def _present(copy: Copy | None) -> list[Copy]:
    return [] if copy is None else [copy]


def _copy(source: str, count, src, dst, src_offset: int, dst_offset: int,
          item: int) -> Copy | None:
    """The copy of a region (element counts and strides), simplified; None if empty."""
    if math.prod(count) == 0:
        return None
    axes = [(int(n), int(s), int(d)) for n, s, d in zip(count, src, dst) if n != 1]
    merged: list[tuple[int, int, int]] = []
    for n, s, d in axes:
        if merged:
            pn, ps, pd = merged[-1]
            if ps == n * s and pd == n * d:  # the outer axis steps over the inner whole
                merged[-1] = (pn * n, s, d)
                continue
        merged.append((n, s, d))
    run = item
    if merged and merged[-1][1] == 1 and merged[-1][2] == 1:
        run = merged.pop()[0] * item
    if len(merged) > MAX_RANK:
        raise UnsupportedError(f"a copy of {len(merged)} strided axes; ekd_copy_s8 takes "
                               f"{MAX_RANK}")
    return Copy(source, src_offset * item, dst_offset * item, run,
                tuple(n for n, _, _ in merged), tuple(s * item for _, s, _ in merged),
                tuple(d * item for _, _, d in merged))
