"""The fast depthwise kernels over window shapes beyond 3x3 (Kx1, 1xK, wide, dilated,
strided, windows larger than the input), odd channel counts and dead channels, through
generated code: bit-exact with the reference on the host (every tensor) and on the boards
whose builds take different paths (Arm DSP, Helium, Cortex-M0)."""
from __future__ import annotations

import pytest

from edgekd.codegen.choice import generator_graph
from edgekd.codegen.prepare import layer_record
from edgekd.ir import Graph
from edgekd.shapes import conv_output_size
from edgekd.verify.host import verify_host
from edgekd.verify.target import verify_target

from ..verify.test_firmware import installed_board
from .graphs import GraphBuilder


def _variants(graph, node):
    return layer_record(graph, node).variants

# (input h, w, channels), kernel, stride, dilation, padding
WINDOWS = [
    ((9, 7, 12), (3, 1), (1, 1), (1, 1), "SAME"),
    ((9, 7, 12), (1, 3), (1, 1), (1, 1), "SAME"),
    ((11, 5, 8), (9, 1), (2, 1), (1, 1), "SAME"),
    ((5, 11, 13), (1, 5), (1, 2), (1, 1), "VALID"),
    ((10, 9, 20), (5, 4), (1, 1), (2, 1), "SAME"),
    ((4, 4, 4), (5, 5), (1, 1), (1, 1), "SAME"),
    ((8, 8, 7), (2, 2), (2, 2), (1, 1), "VALID"),
    ((12, 11, 8), (10, 4), (1, 1), (1, 1), "SAME"),  # 40 taps, 80 below: prepared (DSP)
    ((10, 12, 4), (8, 10), (2, 2), (1, 1), "SAME"),
    ((10, 10, 4), (9, 9), (1, 1), (1, 1), "SAME"),  # 81 taps: the plain loop
]


def window_graph(shape, kernel, stride, dilation, padding, seed=0) -> Graph:
    g = GraphBuilder("dw_window", (1, *shape), seed)
    out = g.depthwise(g.input, kernel=kernel, activation="NONE" if seed % 2 else "RELU6")
    graph = g.build(out)
    node = graph.nodes[0]
    node.attrs.update(stride=stride, dilation=dilation, padding=padding)
    y = graph.tensor(node.outputs[0])
    y.shape = (1, conv_output_size(shape[0], kernel[0], stride[0], dilation[0], padding),
               conv_output_size(shape[1], kernel[1], stride[1], dilation[1], padding),
               shape[2])
    w, b = graph.tensor(node.inputs[1]), graph.tensor(node.inputs[2])
    w.data[..., 1] = 0  # a dead channel with a bias at the int32 limit
    b.data[1] = -(1 << 31)
    return graph.validate()


@pytest.mark.parametrize("index", range(len(WINDOWS)))
def test_fast_kernel_bit_exact_on_the_host(index):
    graph = window_graph(*WINDOWS[index], seed=index)  # odd seeds: no clamp (SSAT path)
    generated = generator_graph(graph)
    assert _variants(generated, generated.nodes[0])[-1].kernel == \
        "ekd_depthwise_conv2d_fast_s8"
    result = verify_host(graph, inputs=6, seed=index, tflm=False)
    assert result.bit_exact, result.summary()


@pytest.mark.slow
@pytest.mark.parametrize("board_name", ["mps2-an386", "mps3-an547", "microbit"])
def test_bit_exact_on_boards(board_name, tmp_path):
    board = installed_board(board_name)
    for index, case in enumerate(WINDOWS):
        result = verify_target(window_graph(*case, seed=index), board, inputs=2,
                               workdir=tmp_path / str(index), progress=None)
        assert result.bit_exact, f"{case}: {result.summary()}"
