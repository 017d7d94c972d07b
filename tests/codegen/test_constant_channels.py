"""edgekd/codegen/channels.py: channels that output one constant whatever the input (dead
channels, biases near +-2^30) are rewritten offline so that their layer keeps its fast
kernel, bit-exact on the host (every tensor) and on each board that selects a different
kernel path (Arm DSP, Helium, Cortex-M0)."""
from __future__ import annotations

import numpy as np
import pytest

from edgekd.codegen import channels
from edgekd.codegen.choice import generator_graph
from edgekd.codegen.prepare import layer_record
from edgekd.codegen.optimized import fast_conv_ok
from edgekd.reference.params import prepare_conv
from edgekd.verify.host import verify_host
from edgekd.verify.target import verify_target

from ..verify.test_firmware import installed_board
from .graphs import GraphBuilder


def _variants(graph, node):
    return layer_record(graph, node).variants

PORTABLE = {"ekd_conv2d_s8", "ekd_depthwise_conv2d_s8"}


def kill(graph, node_index, channel, bias):
    """Channel ``channel`` of layer ``node_index``: all weights zero, bias ``bias``."""
    node = graph.nodes[node_index]
    w = graph.tensor(node.inputs[1]).data
    if node.op == "DEPTHWISE_CONV_2D":
        w[..., channel] = 0
    else:
        w[channel] = 0
    graph.tensor(node.inputs[2]).data[channel] = bias


def adversarial_graph(seed=0):
    """1x1, 3x3 (Winograd), depthwise and strided (im2col) layers, each with dead
    channels at both extremes of int32 and a live channel whose bias saturates it."""
    g = GraphBuilder("dead_channels", (1, 7, 6, 9), seed)
    x = g.conv(g.input, 13, kernel=(1, 1), padding="VALID", activation="NONE")
    x = g.conv(x, 11)
    x = g.depthwise(x, activation="NONE")
    x = g.conv(x, 5, stride=(2, 2), activation="RELU")
    graph = g.build(x)
    for index, node in enumerate(graph.nodes):
        kill(graph, index, 0, (1 << 31) - 1)
        kill(graph, index, 3, -(1 << 31))
        kill(graph, index, 4, (1 << 30) + 17)
        graph.tensor(node.inputs[2]).data[1] = -(1 << 30) - 100  # live weights, saturated
    return graph


def neutral_kernels(graph):
    return [_variants(graph, node)[-1].kernel for node in graph.nodes]


@pytest.mark.parametrize("depthwise", [False, True])
def test_accumulator_range_is_the_exact_extremes_over_int8_inputs(depthwise):
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, (3, 1, 2, 1)).astype(np.int8)  # 3 channels x 2 taps
    bias = rng.integers(-1000, 1000, 3)
    layout = w.reshape(3, 2).T.reshape(1, 1, 2, 3) if depthwise else w
    low, high = channels.accumulator_range(layout, bias, input_offset=-7,
                                           depthwise=depthwise)
    xs = np.array(np.meshgrid(*[np.arange(-128, 128)] * 2)).reshape(2, -1).T  # every input
    acc = (xs - 7) @ w.reshape(3, -1).astype(np.int64).T + bias
    assert np.array_equal(low, acc.min(axis=0)) and np.array_equal(high, acc.max(axis=0))


def test_constant_channels_are_rewritten_and_the_layers_keep_their_fast_kernels():
    graph = adversarial_graph()
    assert not any(fast_conv_ok(graph, node, prepare_conv(graph, node)) for node in graph.nodes)
    generated = generator_graph(graph)
    assert not set(neutral_kernels(generated)) & PORTABLE
    for before, after in zip(graph.nodes, generated.nodes):
        constants = channels.constant_channels(graph, before)
        assert set(constants) == {0, 1, 3, 4}
        p = prepare_conv(generated, after)
        assert [(c, p.multiplier[c], p.shift[c]) for c in sorted(constants)] == \
            [(c, 1 << 30, -1) for c in sorted(constants)]
        # the model's own tensors are left alone (another layer may share them)
        assert graph.tensor(before.inputs[2]).data[0] == (1 << 31) - 1


def test_a_varying_channel_outside_the_bound_is_not_rewritten():
    g = GraphBuilder("varying", (1, 2, 2, 1024), 1)
    graph = g.build(g.conv(g.input, 4, kernel=(1, 1), padding="VALID", activation="NONE"))
    node = graph.nodes[0]
    w, bias = graph.tensor(node.inputs[1]), graph.tensor(node.inputs[2])
    w.data[2] = 127
    bias.data[2] = 1 << 30
    # A real multiplier of 5.6e-8: the bias alone gives about 60, the weights move the
    # output by about two steps.
    in_scale = graph.tensor(node.inputs[0]).quant.scalar_scale
    out_scale = graph.tensor(node.outputs[0]).quant.scalar_scale
    w.quant.scale[2] = 5.6e-8 * out_scale / in_scale
    assert 2 not in channels.constant_channels(graph, node)
    assert channels.with_constant_channels(graph) is graph


def test_dead_channels_bit_exact_on_the_host_every_tensor():
    result = verify_host(adversarial_graph(), inputs=20, seed=4, tflm=False)
    assert result.bit_exact, result.summary()


@pytest.mark.slow
@pytest.mark.parametrize("board_name", ["mps2-an386", "mps3-an547", "microbit"])
def test_dead_channels_bit_exact_on_boards(board_name, tmp_path):
    board = installed_board(board_name)
    result = verify_target(adversarial_graph(), board, inputs=8, workdir=tmp_path,
                           progress=None)
    assert result.bit_exact, result.summary()
