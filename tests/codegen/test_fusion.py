"""Residual ADDs fused into convolutions, and the low-memory kernel choice
(edgekd/codegen/fusion.py, choice.py): which layers fuse, what the plan gains, and that the
fused C computes the unfused graph's bytes (verify_host runs the numpy reference on the
original graph and compares every tensor the C writes)."""
from __future__ import annotations

import pytest

from edgekd.codegen import generate_model
from edgekd.codegen.choice import generator_graph, plan_for
from edgekd.codegen.fusion import fusable_adds, fuse_add
from edgekd.codegen.residual import residual_of
from edgekd.ir import QuantParams
from edgekd.verify.host import verify_host

from .graphs import GraphBuilder


def residual_block(seed: int = 0, channels: int = 16, size: int = 12,
                   skip_first: bool = False):
    """conv -> (conv -> conv) + skip -> pool -> fc: ResNet-8's first block in small."""
    g = GraphBuilder("residual", (1, size, size, 3), seed)
    x0 = g.conv(g.input, channels)
    y1 = g.conv(x0, channels)
    y2 = g.conv(y1, channels, activation="NONE")
    s = g.add(x0, y2) if skip_first else g.add(y2, x0)
    p = g.pool(s, "AVERAGE_POOL_2D", (size, size))
    flat = g.reshape(p, (1, channels))
    return g.build(g.fully_connected(flat, 4))


def test_the_add_disappears_into_the_later_convolution():
    graph = residual_block()
    assert fusable_adds(graph) == [3]
    fused = fuse_add(graph, 3)
    assert [n.op for n in fused.nodes].count("ADD") == 0
    layer = fused.nodes[2]
    residual = residual_of(layer)
    assert residual is not None and residual.conv is graph.nodes[2]
    assert residual.add is graph.nodes[3]
    assert layer.outputs == graph.nodes[3].outputs
    assert layer.inputs[3] == graph.nodes[0].outputs[0]  # the skip: the block input
    # The convolution's own output is no tensor of the generated code any more.
    assert graph.nodes[2].outputs[0] not in {t.name for t in fused.activations()}


@pytest.mark.parametrize("skip_first", [False, True])
def test_the_fused_layer_writes_over_the_skip(skip_first):
    graph = residual_block(skip_first=skip_first)
    plan = plan_for(generator_graph(graph))
    x0, out = graph.nodes[0].outputs[0], graph.nodes[3].outputs[0]
    assert plan.same_storage(x0, out)
    # Block input and the first convolution's output: the least any plan can hold.
    assert plan.arena_bytes == 2 * 12 * 12 * 16
    assert plan.arena_bytes < plan_for(graph).arena_bytes


def _conv_read_twice():
    g = GraphBuilder("twice", (1, 8, 8, 8), 1)
    a = g.conv(g.input, 8)
    b = g.conv(a, 8)
    s = g.add(b, a)
    return g.build(g.add(s, b))  # b is read by both ADDs


def _add_of_two_pools():
    g = GraphBuilder("pools", (1, 8, 8, 8), 2)
    a = g.conv(g.input, 8)
    return g.build(g.add(g.pool(a, "MAX_POOL_2D"), g.pool(a, "AVERAGE_POOL_2D")))


def _channels_not_a_multiple_of_four():
    g = GraphBuilder("odd", (1, 8, 8, 3), 3)
    a = g.conv(g.input, 8)
    b = g.conv(g.input, 8)  # reads the 3-channel input: no direct kernel
    return g.build(g.add(a, b))


def _dilated():
    g = GraphBuilder("dilated", (1, 9, 9, 8), 4)
    a = g.conv(g.input, 8)
    b = g.conv(a, 8)
    graph = g.build(g.add(b, a))
    graph.nodes[1].attrs["dilation"] = (2, 2)
    return graph.validate()


def _conv_output_is_the_model_output():
    g = GraphBuilder("out", (1, 8, 8, 8), 5)
    a = g.conv(g.input, 8)
    b = g.conv(a, 8)
    graph = g.build(b)
    s = g.add(b, a)
    graph.nodes.append(g.nodes[-1])
    graph.tensors[s] = g.tensors[s]
    return graph


@pytest.mark.parametrize("make", [_conv_read_twice, _add_of_two_pools,
                                  _channels_not_a_multiple_of_four, _dilated,
                                  _conv_output_is_the_model_output])
def test_no_fusion_where_the_rules_forbid_it(make):
    graph = make()
    assert fusable_adds(graph) == []


def test_no_fusion_when_the_add_is_not_tflm_int8():
    graph = residual_block()
    add = graph.nodes[3]
    # An output scale so small that the output rescale is no right shift (a real
    # multiplier of 2/3 times 2^0): TFLite accepts it, the fast ADD does not.
    largest = max(graph.tensor(n).quant.scalar_scale for n in add.inputs)
    graph.tensors[add.outputs[0]].quant = QuantParams.per_tensor(3 * largest / 2**20, 0)
    assert fusable_adds(graph) == []


def test_an_add_away_from_the_peak_stays_a_layer():
    """Fused only where it lowers the arena: a second block on a quarter of the pixels
    keeps its ADD (the fused kernels are no faster)."""
    g = GraphBuilder("two_blocks", (1, 12, 12, 3), 7)
    x0 = g.conv(g.input, 16)
    s1 = g.add(g.conv(g.conv(x0, 16), 16, activation="NONE"), x0)
    p = g.pool(s1, "MAX_POOL_2D", (2, 2))
    s2 = g.add(g.conv(g.conv(p, 16), 16, activation="NONE"), p)
    graph = g.build(s2)
    assert len(fusable_adds(graph)) == 2
    ops = [n.op + (" + ADD" if residual_of(n) else "") for n in generator_graph(graph).nodes]
    assert ops == ["CONV_2D", "CONV_2D", "CONV_2D + ADD", "MAX_POOL_2D", "CONV_2D",
                   "CONV_2D", "ADD"]


def test_low_memory_only_where_it_lowers_the_arena():
    graph = generator_graph(residual_block())
    chosen = [i for i, n in enumerate(graph.nodes) if n.attrs.get("low_memory")]
    # The first block conv runs while the block input lives: its scratch would top the
    # peak. The stem conv reads 3 channels (no direct kernel) and stays.
    assert chosen == [1]
    assert plan_for(graph).scratch.get(1) is None or plan_for(graph).scratch[1].nbytes == 0


def test_generated_code_names_the_fused_add():
    model = generate_model(residual_block(), "block")
    text = model.files["block.c"]
    assert "CONV_2D + ADD" in text
    assert "const ekd_residual residual = { &add_params," in text
    # Helium, Arm DSP, and Winograd with its scratch past the plan for the other cores.
    assert text.count("&residual);") == 3
    layer = model.layers[2]
    assert [(c.guard, c.kernel) for c in layer.calls] == [
        ("EKD_HAVE_MVE", "ekd_conv2d_direct_s8_mve"), ("EKD_HAVE_DSP", "ekd_conv2d_direct_s8"),
        (None, "ekd_conv2d_winograd_add_s8")]
    assert layer.calls[-1].past_scratch == (model.plan.arena_bytes, 1024)
    assert model.portable_arena_bytes == model.plan.arena_bytes + 1024
    assert "#if EKD_HAVE_DSP\n#define BLOCK_ARENA_SIZE 4608\n" in model.files["block.h"]


@pytest.mark.parametrize("skip_first", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_fused_code_is_bit_exact_on_the_host(seed, skip_first):
    result = verify_host(residual_block(seed, skip_first=skip_first), inputs=20, seed=seed)
    assert result.bit_exact, result
