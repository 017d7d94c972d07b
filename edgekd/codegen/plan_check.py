"""A proof, independent of the planner, that an arena plan never loses a byte still needed.

``check_plan(graph, plan)`` takes the generator's final graph (residual ADDs fused,
kernels chosen) and the plan the code is rendered from, and derives everything else
itself: each tensor's lifetime from the graph (producer to last reader; the model's input
from before the first layer, its output past the last), which bytes every tensor and
scratch buffer occupies, and how each layer reads the inputs it may share bytes with. It
proves that whenever two buffers share a byte, either they are never live at once, or
they are one value (a RESHAPE that moves nothing), or the layer that reads the one while
writing the other provably reads every byte before it overwrites it:

- element for element (ADD, the binary ops' operands of the output's shape, the table
  activations, the skip of a fused convolution): only at the same offset;
- a window op's data input: for every output pixel, in the write order of each kernel
  the layer may call (``KernelVariant.order``), the bytes written must lie wholly below
  or above every input byte a later step still reads (computed here by enumerating the
  taps of every window, not by the planner's closed form in codegen/inplace.py);
- a RESHAPE that copies: memmove, any overlap;
- any other read: no shared byte at all.

Kernel scratch must share no byte with anything live at its layer. Where the plan keeps
places for the model's input and output inside the arena, the proof is made a second
time with them there. Anything it cannot prove raises ``InternalError``: the compiler
refuses the plan rather than emit C that may compute wrong bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekd.codegen.inplace import RasterOrder, Window
from edgekd.codegen.planner import ARENA, INPUT, OUTPUT, ArenaPlan
from edgekd.codegen.prepare import WINDOW_OPS, layer_record
from edgekd.errors import InternalError
from edgekd.ir import Graph, Node
from edgekd.shapes import BROADCAST_OPS, UNARY_OPS

# How a layer reads an operand, relative to writing its output.
ELEMENTWISE, WINDOW, MOVE, ANY = "elementwise", "window", "move", "any"


@dataclass(frozen=True)
class _Value:
    """Tensors holding one value in one place (a RESHAPE alias chain), live over
    [first, last] (steps; -1: before the first layer, ``steps``: after the last)."""

    names: tuple[str, ...]
    space: str
    offset: int
    nbytes: int
    first: int
    last: int


def check_plan(graph: Graph, plan: ArenaPlan) -> None:
    """Raise ``InternalError`` unless ``plan`` provably keeps every byte ``graph`` still
    needs (the module docstring says how)."""
    problem = plan_problem(graph, plan)
    if problem is not None:
        raise InternalError(f"graph {graph.name!r}: refusing an arena plan that cannot be "
                            f"proven safe ({problem}); please report this as a bug")


def plan_problem(graph: Graph, plan: ArenaPlan) -> str | None:
    """The first thing ``check_plan`` cannot prove, as text, or None."""
    lifetimes, problem = _lifetimes(graph, plan)
    if problem:
        return problem
    layouts = [{}]
    if plan.io_offsets:
        layouts.append({INPUT: plan.io_offsets.get(INPUT), OUTPUT: plan.io_offsets.get(OUTPUT)})
    for inside in layouts:
        if None in inside.values():
            return "the arena keeps a place for only one of the input and output"
        problem = _check_layout(graph, plan, lifetimes, inside)
        if problem:
            return problem + (" with the input and output inside the arena" if inside else "")
    return None


def _lifetimes(graph: Graph, plan: ArenaPlan) -> tuple[dict[str, list[int]], str | None]:
    steps = len(graph.nodes)
    span: dict[str, list[int]] = {name: [-1, -1] for name in graph.inputs}
    for step, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name and not graph.tensor(name).is_constant:
                if name not in span:
                    return span, f"layer {step} reads {name!r} before any layer writes it"
                span[name][1] = step
        for name in node.outputs:
            if name in span:
                return span, f"tensor {name!r} is written twice"
            span[name] = [step, step]
    for name in graph.outputs:
        span[name][1] = steps
    for name in span:
        placed = plan.tensors.get(name)
        if placed is None:
            return span, f"tensor {name!r} has no place"
        if placed.nbytes != graph.tensor(name).nbytes:
            return span, f"tensor {name!r} is {graph.tensor(name).nbytes} bytes, placed as " \
                         f"{placed.nbytes}"
    return span, None


def _check_layout(graph: Graph, plan: ArenaPlan, lifetimes: dict[str, list[int]],
                  inside: dict[str, int]) -> str | None:
    places = {}
    for name in lifetimes:
        p = plan.tensors[name]
        if p.location in inside:
            places[name] = (ARENA, inside[p.location] + p.offset)
        elif p.location in (INPUT, OUTPUT) and plan.io_counts != (1, 1):
            # Each input and output of a model of several is its own struct member.
            places[name] = (f"{p.location} {plan.io_member(p)}", p.offset)
        else:
            places[name] = (p.location, p.offset)
        space, offset = places[name]
        if space == ARENA and p.nbytes and (offset % plan.alignment or offset < 0
                                            or offset + p.nbytes > plan.arena_bytes):
            return (f"tensor {name!r} at {offset}..{offset + p.nbytes} is not an aligned "
                    f"place inside the {plan.arena_bytes}-byte arena")
    values, problem = _values(plan, lifetimes, places, graph)
    if problem:
        return problem
    owner = {name: i for i, v in enumerate(values) for name in v.names}
    return _check_pairs(graph, values, owner) or _check_scratch(plan, values)


def _values(plan, lifetimes, places, graph) -> tuple[list[_Value], str | None]:
    """Tensors grouped into values: a RESHAPE whose output sits exactly on its input."""
    root = {name: name for name in lifetimes}

    def find(name: str) -> str:
        while root[name] != name:
            name = root[name]
        return name

    for node in graph.nodes:
        if node.op == "RESHAPE" and places[node.inputs[0]] == places[node.outputs[0]]:
            if plan.tensors[node.inputs[0]].nbytes != plan.tensors[node.outputs[0]].nbytes:
                return [], f"RESHAPE {node.name!r} aliases tensors of different sizes"
            root[find(node.outputs[0])] = find(node.inputs[0])
    members: dict[str, list[str]] = {}
    for name in lifetimes:
        members.setdefault(find(name), []).append(name)
    values = []
    for names in members.values():
        nbytes = plan.tensors[names[0]].nbytes
        if nbytes:
            space, offset = places[names[0]]
            values.append(_Value(tuple(names), space, offset, nbytes,
                                 min(lifetimes[n][0] for n in names),
                                 max(lifetimes[n][1] for n in names)))
    return values, None


def _check_pairs(graph: Graph, values: list[_Value], owner: dict[str, int]) -> str | None:
    """Every pair of values sharing a byte while both live: only a handover at one step
    that the layer at that step provably allows."""
    if len(values) < 2:
        return None
    spaces = sorted({v.space for v in values})
    space = np.array([spaces.index(v.space) for v in values])
    start = np.array([v.offset for v in values], dtype=np.int64)
    end = start + np.array([v.nbytes for v in values], dtype=np.int64)
    first = np.array([v.first for v in values])
    last = np.array([v.last for v in values])
    clash = ((space[:, None] == space[None, :]) & (start[:, None] < end[None, :])
             & (start[None, :] < end[:, None]) & (first[:, None] <= last[None, :])
             & (first[None, :] <= last[:, None]))
    for i, j in zip(*np.nonzero(np.triu(clash, 1))):
        a, b = values[i], values[j]
        if a.last == b.first and _handover(graph, a, b, owner) is None:
            continue
        if b.last == a.first and _handover(graph, b, a, owner) is None:
            continue
        reason = (_handover(graph, a, b, owner) if a.last == b.first else
                  _handover(graph, b, a, owner) if b.last == a.first else
                  f"both live at steps {max(a.first, b.first)}..{min(a.last, b.last)}")
        return (f"{_describe(a)} and {_describe(b)} share bytes: {reason}")
    return None


def _describe(v: _Value) -> str:
    where = f"{v.space} {v.offset}..{v.offset + v.nbytes}"
    return f"{v.names[0]!r} ({where}, live {v.first}..{v.last})"


def _handover(graph: Graph, dying: _Value, born: _Value, owner: dict[str, int]
              ) -> str | None:
    """None if the layer at step ``born.first`` may write ``born`` over ``dying``, which
    it reads for the last time; else why not."""
    step = born.first
    if step < 0 or step >= len(graph.nodes):
        return "no layer hands one over to the other"
    node = graph.nodes[step]
    written = [n for n in node.outputs if n in born.names]
    slots = [(k, n) for k, n in enumerate(node.inputs) if n and n in dying.names]
    if not written or not slots:
        return f"layer {step} ({node.op}) does not read the one while writing the other"
    for k, name in slots:
        role = _role(graph, node, k)
        if role == MOVE:
            continue
        if role == ELEMENTWISE and dying.offset == born.offset and dying.nbytes == born.nbytes:
            continue
        if role == WINDOW:
            problem = _window_problem(graph, node, dying.offset, born.offset)
            if problem is None:
                continue
            return f"layer {step} ({node.op}): {problem}"
        return (f"layer {step} ({node.op}) reads {name!r} as its operand {k} "
                f"({role}) while writing {written[0]!r} over it")
    return None


def _role(graph: Graph, node: Node, slot: int) -> str:
    """How ``node`` reads its operand ``slot`` relative to writing its output."""
    if node.op == "RESHAPE":
        return MOVE
    if node.op in UNARY_OPS:  # a table lookup per value
        return ELEMENTWISE
    if node.op in BROADCAST_OPS:  # ADD and the binary ops: an operand not broadcast
        same = graph.tensor(node.inputs[slot]).shape == graph.tensor(node.outputs[0]).shape
        return ELEMENTWISE if same else ANY
    if "residual" in node.attrs:
        return WINDOW if slot == 0 else ELEMENTWISE if slot == 3 else ANY
    return WINDOW if node.op in WINDOW_OPS and slot == 0 else ANY


def _window_problem(graph: Graph, node: Node, in_offset: int, out_offset: int) -> str | None:
    """None if every kernel the window layer may call, in its write order, reads each
    input byte before it writes over it at these offsets; else why not."""
    record = layer_record(graph, node)
    window = record.window
    if window is None:
        return "not a window over 4-D tensors"
    for variant in record.variants:
        if variant.order is None:
            return f"{variant.kernel} states no write order"
        if not _window_safe(window, variant.order, in_offset, out_offset):
            return (f"{variant.kernel} (group {variant.order.group}, reads first "
                    f"{variant.order.reads_first}) overwrites input it still reads with its "
                    f"output {in_offset - out_offset} bytes below the input")
    return None


def window_reads(w: Window) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) input pixel (flattened NHW) each output pixel's window reads,
    by enumerating every tap; a window wholly in the padding gets (+big, -big)."""
    n, in_h, in_w, _ = w.in_shape
    _, out_h, out_w, _ = w.out_shape
    big = np.iinfo(np.int64).max // 4

    def taps(out_size, stride, pad, dilation, kernel, in_size):
        pos = (np.arange(out_size)[:, None] * stride - pad
               + np.arange(kernel)[None, :] * dilation)
        valid = (pos >= 0) & (pos < in_size)
        return (np.where(valid, pos, big).min(axis=1), np.where(valid, pos, -big).max(axis=1))

    row_lo, row_hi = taps(out_h, w.stride[0], w.pad[0], w.dilation[0], w.kernel[0], in_h)
    col_lo, col_hi = taps(out_w, w.stride[1], w.pad[1], w.dilation[1], w.kernel[1], in_w)
    empty = ((row_lo == big)[:, None] | (col_lo == big)[None, :])[None]
    batch = (np.arange(n) * in_h * in_w)[:, None, None]
    low = np.where(empty, big, batch + row_lo[:, None] * in_w + col_lo[None, :])
    high = np.where(empty, -big, batch + row_hi[:, None] * in_w + col_hi[None, :])
    return low.reshape(-1), high.reshape(-1)


def _window_safe(w: Window, order: RasterOrder, in_offset: int, out_offset: int) -> bool:
    """Whether each output pixel's bytes, written in raster order with ``order``'s group
    in flight, miss every input byte a pixel still to be read needs."""
    low, high = window_reads(w)
    pixels = low.size
    in_c, out_c = w.in_shape[3], w.out_shape[3]
    if order.channel_major and (in_c != out_c or (in_offset - out_offset) % in_c):
        # A sweep per channel group: only whole pixels apart does a write land on its
        # own channel (inplace.py), else on a channel a later sweep still reads.
        return False
    big = np.iinfo(np.int64).max // 4
    # pending[k]: reads of output pixels k.. (suffix min / max); pending[pixels]: none.
    pending_low = np.append(np.minimum.accumulate(low[::-1])[::-1], big)
    pending_high = np.append(np.maximum.accumulate(high[::-1])[::-1], -big)
    q = np.arange(pixels, dtype=np.int64)
    # While pixel q is written, reads from pixel k on may still be pending: interleaved,
    # those of the group holding q (which may start at q - group + 1); reads first, those
    # of the pixels after q.
    k = q + 1 if order.reads_first else np.maximum(q - order.group + 1, 0)
    lo, hi = pending_low[k], pending_high[k]
    write_start, write_end = out_offset + q * out_c, out_offset + (q + 1) * out_c
    nothing = lo == big
    below = write_end <= in_offset + np.where(nothing, 0, lo) * in_c
    above = write_start >= in_offset + (np.where(nothing, 0, hi) + 1) * in_c
    return bool(np.all(nothing | below | above))


def _check_scratch(plan: ArenaPlan, values: list[_Value]) -> str | None:
    for layer, scratch in plan.scratch.items():
        if not scratch.nbytes:
            continue
        start, end = scratch.offset, scratch.offset + scratch.nbytes
        if start < 0 or end > plan.arena_bytes or start % plan.alignment:
            return (f"scratch of layer {layer} at {start}..{end} is not an aligned place "
                    f"inside the {plan.arena_bytes}-byte arena")
        for v in values:
            if (v.space == ARENA and v.first <= layer <= v.last and start < v.offset + v.nbytes
                    and v.offset < end):
                return f"scratch of layer {layer} at {start}..{end} overlaps {_describe(v)}"
    return None
