"""Static memory planning: where every activation lives during one inference.

The generated code runs layer ``i`` at step ``i``. A tensor is live from the step that
produces it to the last step that reads it (graph outputs to the final step); two tensors
may share bytes only when their lifetimes do not overlap. Kernel scratch is live for the
one step of its layer.

Beyond TFLM's GreedyMemoryPlanner, three things make the arena smaller:

- RESHAPE does not move data, so its output shares its input's bytes (zero bytes, zero
  copies); the pair becomes one storage group whose lifetime is the union of both.
- ADD may write over an input that dies at that ADD (the kernel allows aliasing).
- The graph input and output live in the caller's buffers, which ``<name>_invoke``
  receives anyway, so they take no arena bytes (tensors merged with them by RESHAPE live
  there too).

Placement tries several greedy orders (each with best-fit among the buffers live at the
same time) and keeps the smallest arena. Offsets and sizes are multiples of ``ALIGNMENT``
(16 bytes: every buffer can be read as int32 or by 128-bit SIMD loads without faults).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from edgekd.errors import GraphError
from edgekd.ir import Graph, Node

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
        storage groups and scratch whose last step is ``step``."""
        regions = {}
        for p in self.tensors.values():
            root = self.tensors[p.alias_of] if p.alias_of else p
            if p.location == ARENA and self._group_last(root.name) == step:
                regions[p.offset] = max(regions.get(p.offset, 0), p.nbytes)
        scratch = self.scratch.get(step)
        if scratch is not None and scratch.nbytes:
            regions[scratch.offset] = max(regions.get(scratch.offset, 0), scratch.nbytes)
        return sorted(regions.items())

    def _group_last(self, root: str) -> int:
        return max(p.last for p in self.tensors.values()
                   if (p.alias_of or p.name) == root)

    def table(self) -> str:
        """A human-readable table of every buffer, one line each."""
        width = max([len("tensor")] + [min(len(n), 48) for n in self.tensors])
        lines = [
            f"arena plan for {self.graph_name}: {self.arena_bytes} bytes "
            f"(lower bound {self.lower_bound}, alignment {self.alignment})",
            f"{'id':>3}  {'tensor':<{width}}  {'bytes':>7}  {'where':>8}  {'live':>7}  shares",
        ]
        for name in self._by_id:
            p = self.tensors[name]
            where = str(p.offset) if p.location == ARENA else p.location
            shown = name if len(name) <= 48 else name[:45] + "..."
            shares = f"#{self.tensors[p.alias_of].tensor_id}" if p.alias_of else ""
            lines.append(f"{p.tensor_id:>3}  {shown:<{width}}  {p.nbytes:>7}  {where:>8}  "
                         f"{p.first:>3}-{p.last:<3}  {shares}")
        for s in self.scratch.values():
            if s.nbytes:
                lines.append(f"{'':>3}  {f'scratch of layer {s.layer}':<{width}}  "
                             f"{s.nbytes:>7}  {s.offset:>8}  {s.layer:>3}-{s.layer:<3}")
        return "\n".join(lines)

    def summary(self) -> str:
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
               ) -> ArenaPlan:
    """Plan the arena of ``graph``: an offset for every activation and kernel scratch.

    ``scratch_bytes`` gives the scratch of each layer in bytes: a mapping from layer index,
    or a function ``(graph, index, node) -> bytes``; by default no layer needs scratch.
    """
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

    def merge(keep: str, into: str) -> None:
        if find(keep) == find(into):
            return
        a, b = groups.pop(find(into)), groups[find(keep)]
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
        if node.op != "ADD":
            continue
        out = groups[find(node.outputs[0])]
        if out.location != ARENA:
            continue
        for name in node.inputs:
            g = groups[find(name)]
            if g.location == ARENA and g.last == step and g.nbytes == out.nbytes:
                merge(name, node.outputs[0])
                break

    scratch = _scratch_sizes(graph, scratch_bytes)
    items = [(f"t:{g.root}", align_up(g.nbytes), g.first, g.last)
             for g in groups.values() if g.location == ARENA and g.nbytes > 0]
    items += [(f"s:{layer}", align_up(size), layer, layer)
              for layer, size in scratch.items() if size > 0]
    offsets, arena_bytes = _best_placement(items)

    tensors = {}
    for tensor_id, name in enumerate(names):
        root = find(name)
        g = groups[root]
        first, last = lifetimes[name]
        tensors[name] = TensorPlacement(
            tensor_id=tensor_id, name=name, nbytes=graph.tensor(name).nbytes,
            first=first, last=last, location=g.location,
            offset=offsets.get(f"t:{root}", 0) if g.location == ARENA else 0,
            alias_of=None if root == name else root,
        )
    scratch_plan = {layer: ScratchPlacement(layer, size, offsets.get(f"s:{layer}", 0))
                    for layer, size in scratch.items()}
    return ArenaPlan(graph_name=graph.name, tensors=tensors, scratch=scratch_plan,
                     arena_bytes=arena_bytes, lower_bound=_lower_bound(items, len(graph.nodes)),
                     num_steps=len(graph.nodes))


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


_Item = tuple[str, int, int, int]  # key, aligned bytes, first step, last step

# Orders tried by the greedy placer; the first that gives the smallest arena wins, so the
# result does not depend on dict order.
_ORDERS = (
    lambda it: (-it[1], it[2], it[0]),  # largest first (TFLM's order)
    lambda it: (-(it[3] - it[2]), -it[1], it[0]),  # longest-lived first
    lambda it: (-it[1] * (it[3] - it[2] + 1), it[0]),  # largest area first
    lambda it: (it[2], -it[1], it[0]),  # in execution order
)


def _best_placement(items: list[_Item]) -> tuple[dict[str, int], int]:
    best: tuple[dict[str, int], int] | None = None
    for order in _ORDERS:
        offsets = _place_greedy(sorted(items, key=order))
        total = max((offsets[k] + size for k, size, _, _ in items), default=0)
        if best is None or total < best[1]:
            best = offsets, total
    return best


def _place_greedy(items: list[_Item]) -> dict[str, int]:
    """Place each item at the best-fitting gap among placed items live at the same time
    (the smallest gap that holds it, lowest offset on ties), else on top of them."""
    placed: list[tuple[int, int, int, int]] = []  # offset, bytes, first, last
    offsets: dict[str, int] = {}
    for key, size, first, last in items:
        conflicts = sorted((o, s) for o, s, f, l in placed if f <= last and first <= l)
        best_offset, best_gap, cursor = None, None, 0
        for offset, used in conflicts:
            gap = offset - cursor
            if gap >= size and (best_gap is None or gap < best_gap):
                best_offset, best_gap = cursor, gap
            cursor = max(cursor, offset + used)
        if best_offset is None:
            best_offset = cursor
        offsets[key] = best_offset
        placed.append((best_offset, size, first, last))
    return offsets


def _lower_bound(items: list[_Item], steps: int) -> int:
    return max((sum(size for _, size, f, l in items if f <= step <= l)
                for step in range(steps)), default=0)
