"""The arena planner (edgekd/codegen/planner.py).

The checks recompute lifetimes from the graph on their own (not with the planner's
tensor_lifetimes) and test every pair of buffers by brute force.
"""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.codegen.planner import ALIGNMENT, ARENA, INPUT, OUTPUT, align_up, plan_arena
from edgekd.errors import GraphError
from edgekd.ir import Graph

from .graphs import GraphBuilder, small_cnn


def independent_lifetimes(graph: Graph) -> dict[str, tuple[int, int]]:
    """(producer step, last reader step) of every activation; inputs from 0, outputs to
    the end."""
    final = len(graph.nodes) - 1
    spans = {name: [0, 0] for name in graph.inputs}
    for step, node in enumerate(graph.nodes):
        for name in node.outputs:
            spans[name] = [step, step]
    for step, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name in spans:
                spans[name][1] = max(spans[name][1], step)
    for name in graph.outputs:
        spans[name][1] = final
    return {name: (a, b) for name, (a, b) in spans.items()}


def allowed_to_share(graph: Graph, a: str, b: str, spans) -> bool:
    """Two live tensors may share bytes only through a RESHAPE, or an ADD writing over
    an input that no later layer reads."""
    for step, node in enumerate(graph.nodes):
        pair = {node.inputs[0], node.outputs[0]}
        if node.op == "RESHAPE" and pair == {a, b}:
            return True
        if node.op == "ADD" and node.outputs[0] in (a, b):
            other = b if node.outputs[0] == a else a
            if other in node.inputs and spans[other][1] == step:
                return True
    return False


def assert_valid_plan(graph: Graph, plan) -> None:
    spans = independent_lifetimes(graph)
    # (name, offset, bytes, first, last) of everything in the arena, scratch included.
    buffers = [(p.name, p.offset, p.nbytes, *spans[p.name])
               for p in plan.tensors.values() if p.location == ARENA]
    buffers += [(f"scratch {s.layer}", s.offset, s.nbytes, s.layer, s.layer)
                for s in plan.scratch.values() if s.nbytes]
    for name, offset, nbytes, *_ in buffers:
        assert offset % ALIGNMENT == 0, name
        assert offset + nbytes <= plan.arena_bytes, name
    # Aliases chain: a tensor sharing bytes shares them with the whole group.
    groups = {}
    for p in plan.tensors.values():
        groups.setdefault(p.alias_of or p.name, []).append(p.name)
    same_group = {(a, b) for members in groups.values() for a in members for b in members}
    for (a, oa, na, fa, la), (b, ob, nb, fb, lb) in itertools.combinations(buffers, 2):
        if fa <= lb and fb <= la and oa < ob + nb and ob < oa + na:
            assert (a, b) in same_group, f"{a} and {b} are live together and overlap"
    # Each tensor that shares a buffer does so by one of the two rules.
    for root, members in groups.items():
        for member in members:
            if member != root:
                assert any(allowed_to_share(graph, other, member, spans)
                           for other in members if other != member), member
    for name in graph.inputs:
        assert plan.tensors[name].location == INPUT
    for name in graph.outputs:
        assert plan.tensors[name].location == OUTPUT
    live_sum = sum(-(-p.nbytes // ALIGNMENT) * ALIGNMENT for p in plan.tensors.values()
                   if p.location == ARENA and p.alias_of is None)
    scratch_sum = sum(-(-s.nbytes // ALIGNMENT) * ALIGNMENT for s in plan.scratch.values())
    assert plan.lower_bound <= plan.arena_bytes <= live_sum + scratch_sum


def test_small_cnn_plan_is_valid_and_tight():
    graph = small_cnn()
    plan = plan_arena(graph)
    assert_valid_plan(graph, plan)
    assert plan.arena_bytes == plan.lower_bound


def test_reshape_output_aliases_its_input_at_no_cost():
    graph = small_cnn()
    reshape = next(n for n in graph.nodes if n.op == "RESHAPE")
    plan = plan_arena(graph)
    src, dst = plan.tensors[reshape.inputs[0]], plan.tensors[reshape.outputs[0]]
    assert dst.alias_of == src.name and dst.offset == src.offset
    assert dst.location == ARENA


def test_add_writes_over_an_input_that_dies_there():
    graph = small_cnn()
    add = next(n for n in graph.nodes if n.op == "ADD")
    plan = plan_arena(graph)
    out = plan.tensors[add.outputs[0]]
    assert out.alias_of in add.inputs
    assert out.offset == plan.tensors[out.alias_of].offset


def test_add_keeps_an_input_a_later_layer_still_reads():
    g = GraphBuilder("skip", (1, 4, 4, 4))
    a = g.conv(g.input, 4)
    b = g.conv(a, 4)
    c = g.add(a, b)  # a and b both die here: one is overwritten
    graph = g.build(g.conv(c, 4, out="out"))
    plan = plan_arena(graph)
    assert_valid_plan(graph, plan)
    assert plan.tensors[c].alias_of in (a, b)

    g = GraphBuilder("keep", (1, 4, 4, 4))
    a = g.conv(g.input, 4)
    b = g.conv(a, 4)
    c = g.add(a, b)
    graph = g.build(g.add(c, a))  # a is read again after the first ADD
    plan = plan_arena(graph)
    assert_valid_plan(graph, plan)
    assert plan.tensors[c].alias_of == b


def test_reshape_between_the_callers_buffers_is_a_copy():
    g = GraphBuilder("copy", (1, 2, 2, 4))
    graph = g.build(g.reshape(g.input, (1, 16), out="out"))
    plan = plan_arena(graph)
    assert plan.tensors["out"].location == OUTPUT and plan.tensors["out"].alias_of is None
    assert plan.arena_bytes == 0


def test_reshape_into_the_output_writes_the_producer_straight_there():
    g = GraphBuilder("direct", (1, 4, 4, 2))
    a = g.conv(g.input, 2)
    graph = g.build(g.reshape(a, (1, 32), out="out"))
    plan = plan_arena(graph)
    assert plan.tensors[a].location == OUTPUT
    assert plan.arena_bytes == 0


def test_scratch_is_planned_for_its_layer_only():
    graph = small_cnn()
    scratch = {0: 100, 1: 1000, 2: 33}
    plan = plan_arena(graph, scratch_bytes=scratch)
    assert_valid_plan(graph, plan)
    assert {s.layer: s.nbytes for s in plan.scratch.values()} == scratch
    plan_fn = plan_arena(graph, scratch_bytes=lambda g, i, n: scratch.get(i, 0))
    assert plan_fn.arena_bytes == plan.arena_bytes
    with pytest.raises(GraphError, match="scratch"):
        plan_arena(graph, scratch_bytes={99: 4})


def test_table_lists_every_tensor():
    graph = small_cnn()
    plan = plan_arena(graph)
    table = plan.table()
    assert f"{plan.arena_bytes} bytes" in table.splitlines()[0]
    assert len(table.splitlines()) == 2 + len(plan.tensors)


@st.composite
def random_graphs(draw):
    """Chains of convs with random skip ADDs, RESHAPE round trips and pools."""
    seed = draw(st.integers(0, 2**16))
    g = GraphBuilder("random", (1, 4, 4, 4), seed)
    tensors = [g.conv(g.input, 4)]
    for _ in range(draw(st.integers(1, 9))):
        kind = draw(st.sampled_from(["conv", "add", "reshape", "dw"]))
        x = tensors[-1] if draw(st.booleans()) else draw(st.sampled_from(tensors))
        if kind == "conv":
            tensors.append(g.conv(x, 4, kernel=(1, 1)))
        elif kind == "dw":
            tensors.append(g.depthwise(x))
        elif kind == "add":
            tensors.append(g.add(x, draw(st.sampled_from(tensors))))
        else:
            flat = g.reshape(x, (1, 64))
            tensors.append(g.reshape(flat, (1, 4, 4, 4)))
    last = g.add(tensors[-1], draw(st.sampled_from(tensors)))
    graph = g.build(g.pool(last, size=(2, 2)))
    scratch = draw(st.dictionaries(st.integers(0, len(graph.nodes) - 1),
                                   st.integers(0, 300), max_size=3))
    return graph, scratch


@settings(max_examples=60, deadline=None)
@given(random_graphs())
def test_random_graphs_never_overlap_live_tensors(case):
    graph, scratch = case
    assert_valid_plan(graph, plan_arena(graph, scratch_bytes=scratch))


def test_mlperf_arena_is_no_larger_than_tflms(mlperf_path):
    from edgekd.frontends import load_model
    from edgekd.verify.tflm import tflm_arena_bytes

    path = mlperf_path
    graph = load_model(path)
    plan = plan_arena(graph)
    assert_valid_plan(graph, plan)
    caller_buffers = sum(graph.tensor(n).nbytes for n in (*graph.inputs, *graph.outputs))
    # Even counting the caller's input and output buffers, which TFLM keeps in its arena.
    assert plan.arena_bytes + caller_buffers <= tflm_arena_bytes(path)
    assert plan.arena_bytes == plan.lower_bound


# -- layers in place (overlap allowances) ------------------------------------------------


def inplace_chain(seed: int = 0):
    """conv -> depthwise -> 1x1 conv -> depthwise -> 1x1 conv -> pool: every window layer
    may write over the input that dies there."""
    g = GraphBuilder("chain", (1, 9, 7, 3), seed)
    x = g.conv(g.input, 8)
    for _ in range(2):
        x = g.depthwise(x)
        x = g.conv(x, 8, kernel=(1, 1))
    return g.build(g.pool(x, "AVERAGE_POOL_2D", (3, 7)))


def assert_valid_inplace_plan(graph: Graph, plan, overlap) -> None:
    """No two live tensors share a byte, except through RESHAPE or ADD as above, or a
    layer writing over the input that dies there with its output at least the layer's
    lead below it."""
    spans = independent_lifetimes(graph)
    arena = {p.name: p for p in plan.tensors.values() if p.location == ARENA}
    buffers = [(p.name, p.offset, p.nbytes, *spans[p.name]) for p in arena.values()]
    buffers += [(f"scratch {s.layer}", s.offset, s.nbytes, s.layer, s.layer)
                for s in plan.scratch.values() if s.nbytes]
    for name, offset, nbytes, *_ in buffers:
        assert offset % ALIGNMENT == 0 and offset + nbytes <= plan.arena_bytes, name

    def in_place(a: str, b: str) -> bool:
        for step, node in enumerate(graph.nodes):
            if node.inputs[0] == a and node.outputs[0] == b and spans[a][1] == step == \
                    spans[b][0]:
                lead = overlap(graph, step, node)
                return lead is not None and arena[b].offset <= arena[a].offset - lead
        return False

    group = {p.name: p.alias_of or p.name for p in plan.tensors.values()}
    for (a, oa, na, fa, la), (b, ob, nb, fb, lb) in itertools.combinations(buffers, 2):
        if fa <= lb and fb <= la and oa < ob + nb and ob < oa + na:
            # RESHAPE and ADD alias whole buffers (checked member by member below).
            aliases = oa == ob and a in group and group.get(b) == group[a]
            assert aliases or in_place(a, b) or in_place(b, a), \
                f"{a} and {b} are live together and overlap"
    members: dict[str, list[str]] = {}
    for name, root in group.items():
        members.setdefault(root, []).append(name)
    for names in members.values():
        for member in names:
            assert len(names) == 1 or any(
                allowed_to_share(graph, other, member, spans) or in_place(other, member)
                or in_place(member, other) for other in names if other != member), member
    assert plan.lower_bound <= plan.arena_bytes


def test_window_layers_write_over_their_dying_input():
    from edgekd.codegen.prepare import overlap_lead

    graph = inplace_chain()
    apart = plan_arena(graph)
    together = plan_arena(graph, overlap=overlap_lead)
    assert_valid_inplace_plan(graph, together, overlap_lead)
    assert together.arena_bytes < apart.arena_bytes
    # Every layer after the first writes over its input: one tensor's bytes plus leads.
    tensor = plan_arena(graph).tensors[graph.nodes[0].outputs[0]].nbytes
    leads = sum(overlap_lead(graph, i, n) or 0 for i, n in enumerate(graph.nodes))
    assert together.arena_bytes <= align_up(tensor) + leads + ALIGNMENT
    for node in graph.nodes[1:-1]:  # the pool writes the caller's output buffer
        assert together.tensors[node.outputs[0]].alias_of is not None, node.name


def test_no_overlap_where_a_kernel_states_no_write_order():
    graph = inplace_chain()
    plan = plan_arena(graph, overlap=lambda g, i, n: None)
    assert plan.arena_bytes == plan_arena(graph).arena_bytes


@settings(max_examples=40, deadline=None)
@given(random_graphs())
def test_random_graphs_in_place_never_overlap_live_tensors(case):
    from edgekd.codegen.prepare import overlap_lead

    graph, scratch = case
    assert_valid_inplace_plan(graph, plan_arena(graph, scratch_bytes=scratch,
                                                overlap=overlap_lead), overlap_lead)


def test_an_overlap_allowance_one_step_too_generous_fails_verification(monkeypatch):
    """The poisoned host verification proves the in-place plan, and rejects the same plan
    with any one layer's output placed a single alignment step closer to its input.

    3x3 convolutions through the portable kernel (no optimized or direct kernels),
    which writes channel by channel: its
    lead is exact at this granularity. (Whether each optimized kernel keeps the order it
    states is tested in tests/runtime_c/test_inplace_kernels.py. A depthwise layer's lead
    is not exact: each output channel reads only its own input channel, so the
    pixel-wise lead is a channel row more than it needs.)"""
    from edgekd.codegen import generate_model, kernel_table
    from edgekd.codegen.prepare import overlap_lead, scratch_bytes
    from edgekd.verify.host import verify_host

    # Only the Helium and portable kernels: no optimized or direct ones.
    monkeypatch.setattr(kernel_table, "KERNELS", tuple(
        k for k in kernel_table.KERNELS
        if not k.direct and (k.guard is not None or k == kernel_table.portable_row(k.op))))

    g = GraphBuilder("convs", (1, 6, 7, 8), seed=3)
    x = g.conv(g.input, 8)
    for _ in range(3):
        x = g.conv(x, 8)
    graph = g.build(g.pool(x, "AVERAGE_POOL_2D", (6, 7)))
    assert verify_host(graph, inputs=4, tflm=False).bit_exact
    right = plan_arena(graph, scratch_bytes=scratch_bytes, overlap=overlap_lead)
    tested = 0
    for victim, node in enumerate(graph.nodes):
        lead = overlap_lead(graph, victim, node)
        if node.op != "CONV_2D" or right.tensors[node.inputs[0]].location != ARENA:
            continue  # reads the caller's input: not in place
        tested += 1

        def generous(g, i, n, victim=victim):
            right_lead = overlap_lead(g, i, n)
            return right_lead - ALIGNMENT if i == victim else right_lead

        plan = plan_arena(graph, scratch_bytes=scratch_bytes, overlap=generous)
        generated = generate_model(graph, "convs", plan=plan)
        result = verify_host(graph, inputs=4, tflm=False, generated=generated)
        assert not result.bit_exact, f"layer {victim} ({node.op}) at lead {lead - ALIGNMENT}"
        assert result.first_mismatch.layer == victim
    assert tested == 3
