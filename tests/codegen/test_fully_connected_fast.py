"""The optimized FULLY_CONNECTED kernels (ekd_fully_connected_fast_s8: Arm DSP or portable
C; ekd_fully_connected_s8_mve: Helium) through generated code, against the numpy
reference: any batch, odd depths, one row, 1000+ rows, dead rows with biases near
+-2^31, real multipliers from just below 1/2 down to zero; on the host (every tensor) and
on each board whose build picks a different path."""
from __future__ import annotations

import numpy as np
import pytest

from edgekd.codegen.choice import generator_graph
from edgekd.codegen.prepare import layer_record
from edgekd.verify.host import verify_host
from edgekd.verify.target import verify_target

from ..verify.test_firmware import installed_board
from .graphs import GraphBuilder


def _variants(graph, node):
    return layer_record(graph, node).variants

# (batch, depth, rows)
SHAPES = [(1, 37), (3, 64), (1, 1), (2, 6), (1, 250), (4, 19)]
ROWS = [9, 7, 1, 1030, 5, 12]


def adversarial_fc(batch: int, depth: int, rows: int, seed: int = 0):
    g = GraphBuilder(f"fc_{batch}x{depth}x{rows}", (batch, depth), seed)
    graph = g.build(g.fully_connected(g.input, rows))
    node = graph.nodes[0]
    w, b = graph.tensor(node.inputs[1]), graph.tensor(node.inputs[2])
    in_scale = graph.tensor(node.inputs[0]).quant.scalar_scale
    out_scale = graph.tensor(node.outputs[0]).quant.scalar_scale
    reals = {0: 0.4999, 1: 1e-12, 2: 3e-9}  # shift -1, a zero multiplier, a tiny one
    for row, real in reals.items():
        if row < rows:
            w.quant.scale[row] = real * out_scale / in_scale
    if rows > 3:
        w.data[3] = 0  # a dead row, its bias at the int32 limit
        b.data[3] = (1 << 31) - 1
    if rows > 4:
        w.data[4] = -128
        w.data[4, ::3] = 127
    return graph


def test_every_shape_takes_the_fast_kernels():
    for (batch, depth), rows in zip(SHAPES, ROWS):
        graph = generator_graph(adversarial_fc(batch, depth, rows))
        kernels = [v.kernel for v in _variants(graph, graph.nodes[0])]
        assert kernels == ["ekd_fully_connected_s8_mve", "ekd_fully_connected_fast_s8"]


def test_asymmetric_weights_keep_the_reference_kernel():
    graph = adversarial_fc(1, 8, 4)
    graph.tensor(graph.nodes[0].inputs[1]).quant.zero_point[:] = 3
    assert [v.kernel for v in _variants(graph, graph.nodes[0])] == \
        ["ekd_fully_connected_s8"]


@pytest.mark.parametrize("shape, rows", list(zip(SHAPES, ROWS)))
def test_bit_exact_on_the_host(shape, rows):
    result = verify_host(adversarial_fc(*shape, rows), inputs=12, seed=2, tflm=False)
    assert result.bit_exact, result.summary()


@pytest.mark.slow
@pytest.mark.parametrize("board_name", ["mps2-an386", "mps3-an547", "microbit", "mps2-an385",
                                        "rv32"])
def test_bit_exact_on_boards(board_name, tmp_path):
    board = installed_board(board_name)
    for (batch, depth), rows in zip(SHAPES, ROWS):
        result = verify_target(adversarial_fc(batch, depth, rows), board, inputs=4,
                               workdir=tmp_path / f"{batch}_{depth}_{rows}", progress=None)
        assert result.bit_exact, result.summary()
