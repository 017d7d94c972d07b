"""Static memory planning: where every activation lives during one inference.

The generated code runs layer ``i`` at step ``i``. A tensor is live from the step that
produces it to the last step that reads it (graph outputs to the final step); two tensors
may share bytes only when their lifetimes do not overlap. Kernel scratch is live for the
one step of its layer.

Beyond TFLM's GreedyMemoryPlanner, three things make the arena smaller:

- RESHAPE does not move data, so its output shares its input's bytes (zero bytes, zero
  copies); the pair becomes one storage group whose lifetime is the union of both.
- ADD may write over an input that dies at that ADD (the kernel allows aliasing), and so
  may a convolution with a fused residual ADD over its skip input (codegen/fusion.py).
- A window layer (convolution, depthwise, pooling) may write over an input that dies
  there, its output starting a "lead" of bytes below the input, as far as the write
  order of every kernel it may call allows (``overlap``; edgekd/codegen/inplace.py). The
  tensors of a storage group then sit at offsets of their own inside the group.
- The graph input and output live wherever the caller's pointers say (tensors merged
  with them by RESHAPE too): in buffers of the caller's own, or in places the plan keeps
  for them inside the arena when that costs no arena bytes (``io_offsets``; both
  MLPerf Tiny models: their input dies before the peak, their output is born after it).

Placement tries several greedy orders (each with best-fit among the buffers live at the
same time) and keeps the smallest arena. Offsets and sizes are multiples of ``ALIGNMENT``
(16 bytes: every buffer can be read as int32 or by 128-bit SIMD loads without faults).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from edgekd.errors import GraphError
from edgekd.ir import Graph, Node
from edgekd.shapes import ELEMENTWISE_BINARY_OPS, UNARY_OPS

ALIGNMENT = 16

# Where a storage group lives: in the arena, or in the caller's input/output buffer.
ARENA, INPUT, OUTPUT = "arena", "input", "output"


def align_up(value: int, alignment: int = ALIGNMENT) -> int:
    return (value + alignment - 1) // alignment * alignment


@dataclass(frozen=True)
class TensorPlacement:
    """Where one activation tensor lives. Steps are layer indices, inclusive."""

    tensor_id: int  # index in plan order; the generated EKD_TAP hook reports it
    name: str
    nbytes: int
    first: int
    last: int
    location: str  # ARENA, INPUT or OUTPUT
    offset: int  # byte offset in the arena, or in the caller's buffer (always 0 there)
    alias_of: str | None  # the tensor whose bytes it shares, when planned in place


@dataclass(frozen=True)
class ScratchPlacement:
    """Kernel scratch of one layer: live during that layer only."""

    layer: int
    nbytes: int
    offset: int


@dataclass
class ArenaPlan:
    """The result of ``plan_arena``: placements, arena size and a printable table."""

    graph_name: str
    tensors: dict[str, TensorPlacement]
    scratch: dict[int, ScratchPlacement]
    arena_bytes: int  # size of the arena the caller provides (a multiple of ALIGNMENT)
    lower_bound: int  # the most bytes live at any one step: no plan can be smaller
    alignment: int = ALIGNMENT
    num_steps: int = 0
    # Where the caller may put the model's input and output inside the arena instead of
    # buffers of their own ({INPUT: offset, OUTPUT: offset}); empty when that would take
    # a larger arena than keeping them apart.
    io_offsets: dict[str, int] = field(default_factory=dict)
    _by_id: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._by_id = sorted(self.tensors, key=lambda n: self.tensors[n].tensor_id)

    def placement(self, tensor: str) -> TensorPlacement:
        try:
            return self.tensors[tensor]
        except KeyError:
            raise GraphError(f"graph {self.graph_name!r}: tensor {tensor!r} is not an "
                             "activation of the plan") from None

    def same_storage(self, a: str, b: str) -> bool:
        pa, pb = self.placement(a), self.placement(b)
        return (pa.location, pa.offset) == (pb.location, pb.offset)

    def dead_after(self, step: int) -> list[tuple[int, int]]:
        """Arena (offset, bytes) regions whose contents are never read after ``step``:
        the bytes of tensors last read at ``step`` that no tensor read later holds, and
        the scratch of ``step``."""
        arena = [p for p in self.tensors.values() if p.location == ARENA and p.nbytes]
        dying = [(p.offset, p.offset + p.nbytes) for p in arena if p.last == step]
        kept = [(p.offset, p.offset + p.nbytes) for p in arena if p.first <= step < p.last]
        scratch = self.scratch.get(step)
        if scratch is not None and scratch.nbytes:
            dying.append((scratch.offset, scratch.offset + scratch.nbytes))
        regions: list[tuple[int, int]] = []
        for start, end in _subtract(_union(dying), _union(kept)):
            regions.append((start, end - start))
        return regions

    def table(self) -> str:
        """A human-readable table of every buffer, one line each."""
        width = max([len("tensor")] + [min(len(n), 48) for n in self.tensors])
        lines = [
            f"arena plan for {self.graph_name}: {self.arena_bytes} bytes "
            f"(lower bound {self.lower_bound}, alignment {self.alignment})",
            f"{'id':>3}  {'tensor':<{width}}  {'bytes':>7}  {'where':>12}  {'live':>7}  shares",
        ]
        for name in self._by_id:
            p = self.tensors[name]
            where = str(p.offset) if p.location == ARENA else p.location
            if p.location in self.io_offsets and p.alias_of is None:
                where = f"{p.location} @{self.io_offsets[p.location]}"
            shown = name if len(name) <= 48 else name[:45] + "..."
            shares = f"#{self.tensors[p.alias_of].tensor_id}" if p.alias_of else ""
            lines.append(f"{p.tensor_id:>3}  {shown:<{width}}  {p.nbytes:>7}  {where:>12}  "
                         f"{p.first:>3}-{p.last:<3}  {shares}")
        for s in self.scratch.values():
            if s.nbytes:
                lines.append(f"{'':>3}  {f'scratch of layer {s.layer}':<{width}}  "
                             f"{s.nbytes:>7}  {s.offset:>12}  {s.layer:>3}-{s.layer:<3}")
        return "\n".join(lines)

    def summary(self) -> str:
        if self.io_offsets:
            return (f"arena {self.arena_bytes} bytes (lower bound {self.lower_bound}), "
                    f"input and output included (at offsets {self.io_offsets[INPUT]} and "
                    f"{self.io_offsets[OUTPUT]}) or in the caller's buffers")
        external = sum(p.nbytes for p in self.tensors.values()
                       if p.location != ARENA and p.alias_of is None)
        return (f"arena {self.arena_bytes} bytes (lower bound {self.lower_bound}), "
                f"plus {external} bytes of caller input/output buffers")


@dataclass
class _Group:
    """A storage group: tensors sharing one buffer, live from first to last."""

    root: str
    nbytes: int
    first: int
    last: int
    location: str


def tensor_lifetimes(graph: Graph) -> dict[str, tuple[int, int]]:
    """(first, last) step of every activation: producer to last consumer, graph inputs
    from step 0, graph outputs to the final step, unread tensors for their own step."""
    final = len(graph.nodes) - 1
    first: dict[str, int] = {name: 0 for name in graph.inputs}
    last: dict[str, int] = {name: 0 for name in graph.inputs}
    for step, node in enumerate(graph.nodes):
        for name in node.outputs:
            first.setdefault(name, step)
            last[name] = max(last.get(name, step), step)
        for name in node.inputs:
            if name and not graph.tensor(name).is_constant:
                last[name] = max(last.get(name, step), step)
    for name in graph.outputs:
        last[name] = final
    return {name: (first[name], last[name]) for name in first}


def plan_arena(graph: Graph,
               scratch_bytes: Mapping[int, int] | Callable[[Graph, int, Node], int] | None = None,
               overlap: Callable[[Graph, int, Node], int | None] | None = None,
               ) -> ArenaPlan:
    """Plan the arena of ``graph``: an offset for every activation and kernel scratch.

    ``scratch_bytes`` gives the scratch of each layer in bytes: a mapping from layer index,
    or a function ``(graph, index, node) -> bytes``; by default no layer needs scratch.
    ``overlap(graph, index, node)`` gives, for a layer that may write over its first
    input, the lead in bytes (>= 0) by which its output must start before that input
    (None: not in place); by default no layer but ADD writes over an input. With it, the
    plan with layers in place and the plan without are both made; the smaller wins.

    The model's input and output get places of their own in the arena too
    (``ArenaPlan.io_offsets``) when that takes no larger an arena: a caller may then put
    them there instead of in buffers of its own (the code reads them through the
    pointers it is given either way).
    """
    overlaps = (None,) if overlap is None else (None, overlap)
    plans = [_plan(graph, scratch_bytes, o, io) for io in (True, False) for o in overlaps]
    smallest = min(p.arena_bytes for p in plans)
    # The first of the smallest: input and output in the arena before apart, layers in
    # place only where that saves bytes.
    return next(p for p in plans if p.arena_bytes == smallest)


def _plan(graph: Graph, scratch_bytes, overlap, io_in_arena: bool) -> ArenaPlan:
    if not graph.nodes:
        raise GraphError(f"graph {graph.name!r} has no layers")
    lifetimes = tensor_lifetimes(graph)
    names = [t.name for t in graph.activations()]
    parent = {name: name for name in names}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def location_of(name: str) -> str:
        if name in graph.inputs:
            return INPUT
        return OUTPUT if name in graph.outputs else ARENA

    groups = {
        name: _Group(name, graph.tensor(name).nbytes, *lifetimes[name], location_of(name))
        for name in names
    }

    # Offset of each tensor from the start of its storage group's buffer (0 unless a
    # layer writes over its input at a lead).
    rel = {name: 0 for name in names}
    members = {name: [name] for name in names}  # group root -> its tensors

    def merge(keep: str, into: str, delta: int = 0) -> None:
        """One buffer for both groups, ``into`` at ``delta`` bytes from ``keep``."""
        if find(keep) == find(into):
            return
        a, b = groups.pop(find(into)), groups[find(keep)]
        shift = rel[keep] + delta - rel[into]
        for name in members[a.root]:
            rel[name] += shift
        members[b.root] += members.pop(a.root)
        parent[a.root] = b.root
        b.first, b.last = min(a.first, b.first), max(a.last, b.last)
        b.nbytes = max(a.nbytes, b.nbytes)
        if a.location != ARENA:
            b.location = a.location

    # RESHAPE first: aliasing changes group lifetimes, which the in-place ADD check reads.
    for node in graph.nodes:
        if node.op == "RESHAPE":
            src, dst = node.inputs[0], node.outputs[0]
            a, b = groups[find(src)], groups[find(dst)]
            same_size = graph.tensor(src).nbytes == graph.tensor(dst).nbytes
            # The caller's input and output are separate buffers: a RESHAPE from one to
            # the other is a copy.
            if same_size and {a.location, b.location} != {INPUT, OUTPUT}:
                merge(src, dst)
    for step, node in enumerate(graph.nodes):
        out = groups[find(node.outputs[0])] if node.outputs else None
        if out is None or out.location != ARENA:
            continue
        for name in _elementwise_inputs(node):
            if graph.tensor(name).is_constant:
                continue
            g = groups[find(name)]
            if (g.location == ARENA and g.last == step and g.nbytes == out.nbytes
                    and _read_once(graph, node, name, find)):
                merge(name, node.outputs[0])
                break
    for step, node in enumerate(graph.nodes if overlap is not None else ()):
        if node.op in ("ADD", "RESHAPE") or not node.inputs or not node.inputs[0]:
            continue
        source, target = node.inputs[0], node.outputs[0]
        if graph.tensor(source).is_constant:
            continue
        a, b = groups[find(source)], groups[find(target)]
        if (a is b or a.location != ARENA or b.location != ARENA or a.last != step
                or b.first != step or not _read_once(graph, node, source, find)):
            continue
        lead = overlap(graph, step, node)
        # A lead as long as the output gains no byte, and would only tie the two down.
        if lead is not None and align_up(max(0, int(lead))) < align_up(b.nbytes):
            merge(source, target, -align_up(max(0, int(lead))))

    scratch = _scratch_sizes(graph, scratch_bytes)
    base = {}  # group root -> offset of its lowest member within the group
    items: list[_Item] = []
    for g in groups.values():
        if (g.location != ARENA and not io_in_arena) or g.nbytes <= 0:
            continue
        held = [n for n in members[g.root] if graph.tensor(n).nbytes > 0]
        base[g.root] = min(rel[n] for n in held)
        parts = sorted({(rel[n] - base[g.root], align_up(graph.tensor(n).nbytes),
                         *lifetimes[n]) for n in held})
        items.append((f"t:{g.root}", tuple(_merge_parts(parts))))
    items += [(f"s:{layer}", ((0, align_up(size), layer, layer),))
              for layer, size in scratch.items() if size > 0]
    offsets, arena_bytes = _best_placement(items)

    tensors = {}
    io_offsets: dict[str, int] = {}
    for tensor_id, name in enumerate(names):
        root = find(name)
        g = groups[root]
        first, last = lifetimes[name]
        in_arena = g.location == ARENA and root in base
        if g.location != ARENA and root in base and name in (*graph.inputs, *graph.outputs):
            io_offsets[g.location] = offsets[f"t:{root}"] + rel[name] - base[root]
        tensors[name] = TensorPlacement(
            tensor_id=tensor_id, name=name, nbytes=graph.tensor(name).nbytes,
            first=first, last=last, location=g.location,
            offset=offsets[f"t:{root}"] + rel[name] - base[root] if in_arena else 0,
            alias_of=None if root == name else root,
        )
    scratch_plan = {layer: ScratchPlacement(layer, size, offsets.get(f"s:{layer}", 0))
                    for layer, size in scratch.items()}
    return ArenaPlan(graph_name=graph.name, tensors=tensors, scratch=scratch_plan,
                     arena_bytes=arena_bytes, lower_bound=_lower_bound(items, len(graph.nodes)),
                     num_steps=len(graph.nodes),
                     io_offsets=io_offsets if len(io_offsets) == 2 else {})


def _elementwise_inputs(node: Node) -> list[str]:
    """The inputs a layer may write its output over byte for byte (each value read before
    the same position is written): both of an ADD's, the skip of a convolution with a
    fused residual ADD (codegen/fusion.py), the input of a table activation (ekd_lut_s8)
    and the inputs of a broadcasting binary op (ekd_mul_s8.c and its kin; the caller's size
    check leaves only an input of the output's shape, which is not broadcast)."""
    if node.op == "ADD" or node.op in ELEMENTWISE_BINARY_OPS or node.op in UNARY_OPS:
        return list(node.inputs)
    if "residual" in node.attrs:
        return [node.inputs[3]]
    return []


def _read_once(graph: Graph, node: Node, name: str, find: Callable[[str], str]) -> bool:
    """Whether ``name``'s bytes are read by ``node`` through that one operand only. A layer
    may write over an input it reads in one known order (element for element, or a
    window in raster order), not over one it also reads another way: the convolution of
    ``ADD(x, CONV(x))`` fused reads ``x`` as its window and as its skip."""
    group = find(name)
    operands = [n for n in node.inputs if n and not graph.tensor(n).is_constant]
    return sum(find(n) == group for n in operands) == 1


def _scratch_sizes(graph: Graph, scratch_bytes) -> dict[int, int]:
    if scratch_bytes is None:
        return {}
    if callable(scratch_bytes):
        sizes = {i: int(scratch_bytes(graph, i, node)) for i, node in enumerate(graph.nodes)}
    else:
        sizes = {int(i): int(b) for i, b in scratch_bytes.items()}
    for layer, size in sizes.items():
        if size < 0 or not 0 <= layer < len(graph.nodes):
            raise GraphError(f"graph {graph.name!r}: layer {layer}: bad scratch size {size}")
    return sizes


_Part = tuple[int, int, int, int]  # offset in the item, aligned bytes, first, last step
# key, parts; a plain buffer is one part at offset 0, a group with tensors at leads more
_Item = tuple[str, tuple[_Part, ...]]


def _merge_parts(parts: list[_Part]) -> list[_Part]:
    """Parts at the same offset and size (RESHAPE aliases) as one, over both lifetimes."""
    merged: dict[tuple[int, int], tuple[int, int]] = {}
    for offset, size, first, last in parts:
        f, l = merged.get((offset, size), (first, last))
        merged[(offset, size)] = (min(f, first), max(l, last))
    return [(o, s, f, l) for (o, s), (f, l) in sorted(merged.items())]


def _extent(item: _Item) -> tuple[int, int, int]:
    """(bytes, first, last) of the rectangle around an item's parts."""
    parts = item[1]
    return (max(o + s for o, s, _, _ in parts), min(f for _, _, f, _ in parts),
            max(l for _, _, _, l in parts))


# Orders tried by the greedy placer; the first that gives the smallest arena wins, so the
# result does not depend on dict order.
_ORDERS = (
    lambda it, e: (-e[0], e[1], it[0]),  # largest first (TFLM's order)
    lambda it, e: (-(e[2] - e[1]), -e[0], it[0]),  # longest-lived first
    lambda it, e: (-e[0] * (e[2] - e[1] + 1), it[0]),  # largest area first
    lambda it, e: (e[1], -e[0], it[0]),  # in execution order
)


def _best_placement(items: list[_Item]) -> tuple[dict[str, int], int]:
    best: tuple[dict[str, int], int] | None = None
    extents = {key: _extent((key, parts)) for key, parts in items}
    for order in _ORDERS:
        offsets = _place_greedy(sorted(items, key=lambda it: order(it, extents[it[0]])))
        total = max((offsets[key] + extents[key][0] for key, _ in items), default=0)
        if best is None or total < best[1]:
            best = offsets, total
    return best


def _place_greedy(items: list[_Item]) -> dict[str, int]:
    """Place each plain item at the best-fitting gap among placed parts live at the same
    time (the smallest gap that holds it, lowest offset on ties), else on top of them; an
    item of several parts at the lowest offset where no part meets a placed one."""
    placed: list[tuple[int, int, int, int]] = []  # offset, bytes, first, last
    live_at: dict[int, list[int]] = {}  # step -> indices of the placed parts live then
    offsets: dict[str, int] = {}

    def live_between(first: int, last: int) -> list[tuple[int, int, int, int]]:
        """The placed parts live at some step of first..last (each once)."""
        found = {i for step in range(first, last + 1) for i in live_at.get(step, ())}
        return [placed[i] for i in sorted(found)]

    for key, parts in items:
        if len(parts) == 1 and parts[0][0] == 0:
            _, size, first, last = parts[0]
            conflicts = sorted((o, s) for o, s, _, _ in live_between(first, last))
            best_offset, best_gap, cursor = None, None, 0
            for offset, used in conflicts:
                gap = offset - cursor
                if gap >= size and (best_gap is None or gap < best_gap):
                    best_offset, best_gap = cursor, gap
                cursor = max(cursor, offset + used)
            if best_offset is None:
                best_offset = cursor
        else:
            # Only parts live at the same time constrain it (and give candidate offsets).
            best_offset = _lowest_fit(parts, live_between(min(p[2] for p in parts),
                                                          max(p[3] for p in parts)))
        offsets[key] = best_offset
        for o, s, f, l in parts:
            for step in range(f, l + 1):
                live_at.setdefault(step, []).append(len(placed))
            placed.append((best_offset + o, s, f, l))
    return offsets


def _lowest_fit(parts: tuple[_Part, ...], placed: list[tuple[int, int, int, int]]) -> int:
    """The lowest offset at which no part overlaps a placed part live with it."""
    candidates = {0} | {o + s - po for o, s, _, _ in placed for po, _, _, _ in parts
                        if o + s - po >= 0}
    for candidate in sorted(candidates):
        if all(not (f <= pl and pf <= l and candidate + po < o + s and o < candidate + po + ps)
               for po, ps, pf, pl in parts for o, s, f, l in placed):
            return candidate
    raise AssertionError("unreachable: the top of the placed parts always fits")


def _lower_bound(items: list[_Item], steps: int) -> int:
    """The most bytes live at one step, a group counting the span of its live parts."""
    def live(parts: tuple[_Part, ...], step: int) -> int:
        spans = [(o, o + s) for o, s, f, l in parts if f <= step <= l]
        return max(e for _, e in spans) - min(o for o, _ in spans) if spans else 0

    if steps <= 0:
        return 0
    total = [0] * (steps + 1)  # differences: bytes that start (or stop) being live
    for _, parts in items:
        if len(parts) == 1:
            _, size, first, last = parts[0]
            first, last = max(first, 0), min(last, steps - 1)
            if first <= last:
                total[first] += size
                total[last + 1] -= size
            continue
        for step in range(max(0, min(p[2] for p in parts)),
                          min(steps - 1, max(p[3] for p in parts)) + 1):
            total[step] += live(parts, step)
            total[step + 1] -= live(parts, step)
    best = running = 0
    for step in range(steps):
        running += total[step]
        best = max(best, running)
    return best


def _union(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint [start, end) intervals covering the given ones."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(intervals: list[tuple[int, int]],
              holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of disjoint sorted ``intervals`` outside disjoint sorted ``holes``."""
    result = []
    for start, end in intervals:
        for hole_start, hole_end in holes:
            if hole_end <= start or hole_start >= end:
                continue
            if hole_start > start:
                result.append((start, hole_start))
            start = max(start, hole_end)
        if start < end:
            result.append((start, end))
    return result
