"""edgekd/codegen/depthwise.py: a depthwise convolution with a depth multiplier over few
input channels runs as the CONV_2D it equals, on the convolution's fast kernels, with the
same bytes as the reference's depthwise (host: every tensor; boards: DSP, Helium, M0)."""
from __future__ import annotations

import pytest

from edgekd.codegen.choice import generator_graph
from edgekd.codegen.prepare import layer_record
from edgekd.verify.host import verify_host
from edgekd.verify.target import verify_target

from ..verify.test_firmware import installed_board
from .graphs import GraphBuilder


def _variants(graph, node):
    return layer_record(graph, node).variants


def multiplier_depthwise(kernel=(8, 10), multiplier=8, shape=(1, 19, 17, 1), seed=0):
    g = GraphBuilder("dw_single", shape, seed)
    return g.build(g.depthwise(g.input, kernel=kernel, multiplier=multiplier,
                               activation="RELU"))


# kernel, multiplier, input channels
CASES = [((8, 10), 8, 1), ((3, 3), 2, 1), ((1, 5), 3, 3), ((5, 1), 13, 1), ((3, 3), 2, 4)]


@pytest.mark.parametrize("kernel, multiplier, channels", CASES)
def test_becomes_a_conv_on_a_fast_kernel_and_stays_bit_exact(kernel, multiplier, channels):
    graph = multiplier_depthwise(kernel, multiplier, (1, 19, 17, channels))
    generated = generator_graph(graph)
    node = generated.nodes[0]
    assert node.op == "CONV_2D" and "depth_multiplier" not in node.attrs
    assert generated.tensor(node.inputs[1]).shape == (multiplier * channels, *kernel,
                                                      channels)
    assert _variants(generated, node)[-1].kernel != "ekd_conv2d_s8"
    result = verify_host(graph, inputs=8, seed=1, tflm=False)
    assert result.bit_exact, result.summary()


def test_more_input_channels_or_multiplier_one_stay_depthwise():
    for shape, multiplier in (((1, 6, 6, 5), 2), ((1, 6, 6, 1), 1)):
        graph = multiplier_depthwise((3, 3), multiplier, shape)
        assert generator_graph(graph).nodes[0].op == "DEPTHWISE_CONV_2D"


@pytest.mark.slow
@pytest.mark.parametrize("board_name", ["mps2-an386", "mps3-an547", "microbit"])
def test_bit_exact_on_boards(board_name, tmp_path):
    board = installed_board(board_name)
    for kernel, multiplier, channels in CASES:
        graph = multiplier_depthwise(kernel, multiplier, (1, 19, 17, channels))
        result = verify_target(graph, board, inputs=3,
                               workdir=tmp_path / f"{kernel[0]}x{kernel[1]}", progress=None)
        assert result.bit_exact, result.summary()
