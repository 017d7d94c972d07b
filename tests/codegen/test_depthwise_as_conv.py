"""edgekd/codegen/depthwise.py: a depthwise convolution of one input channel with a depth
multiplier runs as the CONV_2D it equals, on the convolution's fast kernels, with the
same bytes as the reference's depthwise (host: every tensor; boards: DSP, Helium, M0)."""
from __future__ import annotations

import pytest

from edgekd.codegen.choice import generator_graph
from edgekd.codegen.kernels import layer_variants
from edgekd.verify.host import verify_host
from edgekd.verify.target import verify_target

from ..verify.test_firmware import installed_board
from .graphs import GraphBuilder


def single_channel_depthwise(kernel=(8, 10), multiplier=8, shape=(1, 19, 17, 1), seed=0):
    g = GraphBuilder("dw_single", shape, seed)
    return g.build(g.depthwise(g.input, kernel=kernel, multiplier=multiplier,
                               activation="RELU"))


CASES = [((8, 10), 8), ((3, 3), 2), ((1, 5), 3), ((5, 1), 13)]


@pytest.mark.parametrize("kernel, multiplier", CASES)
def test_becomes_a_conv_on_a_fast_kernel_and_stays_bit_exact(kernel, multiplier):
    graph = single_channel_depthwise(kernel, multiplier)
    generated = generator_graph(graph)
    node = generated.nodes[0]
    assert node.op == "CONV_2D" and "depth_multiplier" not in node.attrs
    assert generated.tensor(node.inputs[1]).shape == (multiplier, *kernel, 1)
    assert layer_variants(generated, node)[-1].kernel != "ekd_conv2d_s8"
    result = verify_host(graph, inputs=8, seed=1, tflm=False)
    assert result.bit_exact, result.summary()


def test_more_input_channels_or_multiplier_one_stay_depthwise():
    for shape, multiplier in (((1, 6, 6, 2), 2), ((1, 6, 6, 1), 1)):
        graph = single_channel_depthwise((3, 3), multiplier, shape)
        assert generator_graph(graph).nodes[0].op == "DEPTHWISE_CONV_2D"


@pytest.mark.slow
@pytest.mark.parametrize("board_name", ["mps2-an386", "mps3-an547", "microbit"])
def test_bit_exact_on_boards(board_name, tmp_path):
    board = installed_board(board_name)
    for kernel, multiplier in CASES:
        result = verify_target(single_channel_depthwise(kernel, multiplier), board, inputs=3,
                               workdir=tmp_path / f"{kernel[0]}x{kernel[1]}", progress=None)
        assert result.bit_exact, result.summary()
