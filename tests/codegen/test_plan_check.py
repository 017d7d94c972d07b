"""The plan checker (edgekd/codegen/plan_check.py): it accepts every plan the planner
makes, refuses each way a plan can lose a byte still needed, and ``compile`` refuses a plan
it cannot prove. Also the residual block whose fused convolution reads its own skip
(``ADD(x, CONV(x))``), which the planner once placed on one offset with no lead."""
from __future__ import annotations

import dataclasses

import pytest

from edgekd.codegen import generate_model, render
from edgekd.codegen.choice import generator_graph, plan_for
from edgekd.codegen.residual import residual_of
from edgekd.codegen.inplace import RasterOrder, Window, lowest_reads, raster_lead
from edgekd.codegen.prepare import overlap_lead, scratch_bytes
from edgekd.codegen.plan_check import check_plan, plan_problem, window_reads
from edgekd.codegen.planner import ALIGNMENT, ARENA, INPUT, plan_arena
from edgekd.errors import InternalError
from edgekd.verify.host import verify_host

from .graphs import GraphBuilder, small_cnn
from .test_fusion import residual_block


def conv_of_skip(kernel, conv_first: bool, channels: int = 8, size: int = 8):
    """``x = conv(i); z = ADD(x, CONV(x)); y = conv(z)``: the convolution of the residual
    reads the skip itself, and ``z`` is read by a later layer."""
    g = GraphBuilder("conv_of_skip", (1, size, size, channels), 7)
    x = g.conv(g.input, channels)
    m = g.conv(x, channels, kernel=kernel, activation="NONE")
    z = g.add(m, x) if conv_first else g.add(x, m)
    return g.build(g.conv(z, channels))


@pytest.mark.parametrize("kernel", [(1, 1), (3, 3)])
@pytest.mark.parametrize("conv_first", [False, True])
def test_a_residual_whose_convolution_reads_the_skip_is_bit_exact(kernel, conv_first):
    graph = conv_of_skip(kernel, conv_first)
    generated = generate_model(graph, "net")
    assert any(residual_of(n) for n in generated.graph.nodes)  # the ADD is fused
    x, z = graph.nodes[0].outputs[0], graph.nodes[2].outputs[0]
    # The fused layer reads x as its window: it must not write z over x in place.
    assert not generated.plan.same_storage(x, z)
    assert verify_host(graph, inputs=20, tflm=False, generated=generated).bit_exact


def test_the_checker_refuses_the_skip_and_output_on_one_offset():
    graph = generator_graph(conv_of_skip((3, 3), False))
    plan = plan_for(graph)
    x, z = graph.nodes[0].outputs[0], graph.nodes[1].outputs[0]
    wrong = dataclasses.replace(plan, tensors={
        **plan.tensors, z: dataclasses.replace(plan.tensors[z], offset=plan.tensors[x].offset)})
    assert "overwrites input it still reads" in plan_problem(graph, wrong)


@pytest.mark.parametrize("make", [small_cnn, residual_block,
                                  lambda: residual_block(skip_first=True)])
def test_every_plan_the_planner_makes_is_proven(make):
    graph = generator_graph(make())
    assert plan_problem(graph, plan_for(graph)) is None


def test_mlperf_plans_are_proven(mlperf_path):
    from edgekd.frontends import load_model

    graph = generator_graph(load_model(mlperf_path))
    assert plan_problem(graph, plan_for(graph)) is None


def _moved(plan, tensor, offset):
    return dataclasses.replace(plan, tensors={
        **plan.tensors, tensor: dataclasses.replace(plan.tensors[tensor], offset=offset)})


def test_a_tensor_on_one_still_live_is_refused():
    graph = generator_graph(small_cnn())
    plan = plan_for(graph)
    # The block input, read by the fused layer 2 as its skip, and the depthwise output.
    live, later = graph.nodes[0].outputs[0], graph.nodes[1].outputs[0]
    assert "both live" in plan_problem(graph, _moved(plan, later, plan.tensors[live].offset))


def test_an_output_on_an_input_read_in_any_order_is_refused():
    graph = generator_graph(small_cnn())
    plan = plan_for(graph)
    fc = next(n for n in graph.nodes if n.op == "FULLY_CONNECTED")
    src, dst = plan.tensors[fc.inputs[0]], plan.tensors[fc.outputs[0]]
    if src.location != ARENA or dst.location != ARENA:
        pytest.skip("the FC's operands are the caller's buffers")
    assert "(any)" in plan_problem(graph, _moved(plan, dst.name, src.offset))


def test_a_lead_one_alignment_short_is_refused():
    """The planner with one window layer's lead cut by one alignment step: every plan
    that then puts that layer in place is refused (planned without kernel scratch, which
    would otherwise keep these layers apart)."""
    g = GraphBuilder("convs", (1, 12, 12, 8), seed=3)
    x = g.conv(g.input, 8)
    for _ in range(3):
        x = g.conv(x, 8)
    graph = generator_graph(g.build(g.pool(x, "AVERAGE_POOL_2D", (12, 12))))
    assert plan_problem(graph, plan_arena(graph, overlap=overlap_lead)) is None
    refused = 0
    for victim, node in enumerate(graph.nodes):
        def short(g, i, n, victim=victim):
            lead = overlap_lead(g, i, n)
            return None if lead is None else lead - ALIGNMENT * (i == victim)

        plan = plan_arena(graph, overlap=short)
        if plan.tensors[node.outputs[0]].alias_of:
            assert "overwrites input it still reads" in plan_problem(graph, plan)
            refused += 1
    assert refused >= 2


def test_scratch_over_a_live_tensor_is_refused():
    graph = generator_graph(small_cnn())
    plan = plan_for(graph)
    layer, scratch = next((i, s) for i, s in plan.scratch.items() if s.nbytes)
    live = plan.tensors[graph.nodes[layer].outputs[0]]
    if live.location != ARENA:
        live = plan.tensors[graph.nodes[layer].inputs[0]]
    wrong = dataclasses.replace(plan, scratch={
        **plan.scratch, layer: dataclasses.replace(scratch, offset=live.offset)})
    assert f"scratch of layer {layer}" in plan_problem(graph, wrong)


def test_io_places_are_proven_too():
    graph = generator_graph(small_cnn())
    plan = plan_for(graph)
    assert plan.io_offsets
    first_output = plan.tensors[graph.nodes[0].outputs[0]]
    wrong = dataclasses.replace(plan, io_offsets={**plan.io_offsets,
                                                  INPUT: first_output.offset})
    assert "inside the arena" in plan_problem(graph, wrong)


def test_a_plan_outside_the_arena_is_refused():
    graph = generator_graph(small_cnn())
    plan = plan_for(graph)
    assert "inside the" in plan_problem(graph, dataclasses.replace(
        plan, arena_bytes=plan.arena_bytes - ALIGNMENT, io_offsets={}))


def test_compile_refuses_a_plan_it_cannot_prove(monkeypatch):
    """A planner bug (injected: every tensor on offset 0) stops compile with an internal
    error instead of C that computes wrong bytes."""
    def broken(graph):
        plan = plan_for(graph)
        return dataclasses.replace(plan, tensors={
            n: dataclasses.replace(p, offset=0) for n, p in plan.tensors.items()})

    monkeypatch.setattr(render, "plan_for", broken)
    with pytest.raises(InternalError, match="cannot be proven safe"):
        generate_model(small_cnn(), "net")


@pytest.mark.parametrize("geometry", [
    ((1, 7, 9, 3), (1, 7, 9, 5), (3, 3), (1, 1), (1, 1), (1, 1)),
    ((2, 9, 8, 4), (2, 4, 4, 4), (3, 2), (2, 2), (1, 1), (0, 0)),
    ((1, 10, 10, 2), (1, 10, 10, 2), (3, 3), (1, 1), (2, 2), (2, 2)),
    ((1, 3, 3, 4), (1, 5, 5, 4), (3, 3), (1, 1), (1, 1), (2, 2)),  # windows in padding
])
def test_enumerated_windows_agree_with_the_closed_form(geometry):
    """The checker's brute-force reads and the planner's closed form (codegen/inplace.py)
    agree; the checker proves every raster lead the planner computes, and refuses one
    alignment step less where that lead was needed."""
    w = Window(*geometry)
    low, _ = window_reads(w)
    assert (low == lowest_reads(w)).all()
    from edgekd.codegen.plan_check import _window_safe

    for order in (RasterOrder(1, False), RasterOrder(4, False), RasterOrder(4, True)):
        lead = raster_lead(w, order)
        assert _window_safe(w, order, 1000, 1000 - lead)
        assert not _window_safe(w, order, 1000, 1000 - lead + 1) or lead <= -1000
