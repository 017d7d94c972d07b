"""The generated C of the arithmetic and activation ops (MEAN, SUM, REDUCE_MAX, ARG_MAX,
ARG_MIN, MUL, SUB, MINIMUM, MAXIMUM, the table activations, REQUANTIZE) against the
numpy reference, byte for byte, on the host. The reference itself is held to TFLM by
tests/reference/test_math_ops.py."""
from __future__ import annotations

import numpy as np
import pytest

from edgekd.verify.host import verify_host

from .graphs import GraphBuilder

pytestmark = pytest.mark.slow  # each builds a host library


def _verified(graph):
    result = verify_host(graph, inputs=20, seed=1)
    assert result.bit_exact, result.first_mismatch


def test_squeeze_excite_and_activations():
    g = GraphBuilder("squeeze_excite", (1, 6, 5, 8))
    x = g.conv(g.input, 8)
    pooled = g.reduce(x, "MEAN", (1, 2), keep_dims=True)
    gate = g.unary(g.unary(pooled, "HARD_SWISH"), "LOGISTIC")
    scaled = g.binary(x, gate, "MUL", activation="NONE")
    y = g.unary(g.unary(g.unary(scaled, "TANH"), "LEAKY_RELU", alpha=0.1), "RELU")
    y = g.unary(g.unary(y, "REQUANTIZE"), "RELU6")
    _verified(g.build(g.reduce(y, "MEAN", (1, 2), keep_dims=False)))


def test_broadcast_binary_ops_with_a_constant_operand():
    g = GraphBuilder("binary", (2, 3, 4, 5))
    x = g.input
    row = g.reduce(x, "SUM", (0, 2), keep_dims=True)  # [1, 3, 1, 5]
    d = g.binary(x, row, "SUB", activation="RELU")
    c = g.constant("scale", (4, 1), g.tensors[d].quant)
    m = g.binary(g.binary(d, c, "MAXIMUM"), c, "MINIMUM")
    m = g.binary(m, g.constant("alpha", (3, 1, 5)), "PRELU")
    m = g.binary(g.binary(m, row, "ADD", activation="NONE"), g.constant("one", (1,)), "ADD",
                 activation="RELU6")
    _verified(g.build(g.binary(m, g.constant("k", (5,)), "MUL", activation="RELU6")))


@pytest.mark.parametrize("axis", [0, 1, 2, 3])
def test_reductions_over_every_axis(axis):
    g = GraphBuilder("reduce", (2, 3, 4, 5))
    top = g.reduce(g.input, "REDUCE_MAX", (axis,), keep_dims=False)
    g.arg(top, "ARG_MIN", axis=min(axis, 2))
    _verified(g.build(g.arg(g.input, "ARG_MAX", axis=axis)))


def test_squeeze_excite_on_a_cortex_m4():
    """The same layers built for mps2-an386 (Arm DSP: the fast MEAN and MUL rows)."""
    from edgekd.verify.boards import load_board
    from edgekd.verify.target import verify_target

    board = load_board("mps2-an386")
    if board.missing_tools():
        pytest.skip(f"mps2-an386: {', '.join(board.missing_tools())} not installed")
    g = GraphBuilder("se_m4", (1, 6, 5, 12))
    x = g.conv(g.input, 12)
    gate = g.unary(g.reduce(x, "MEAN", (1, 2), keep_dims=True), "LOGISTIC")
    y = g.binary(x, gate, "MUL", activation="NONE")
    y = g.binary(y, g.reduce(y, "SUM", (0, 2), keep_dims=True), "SUB", activation="RELU")
    result = verify_target(g.build(g.unary(y, "HARD_SWISH")), board, inputs=3, progress=None)
    assert result.bit_exact, result


def test_activations_and_broadcast_mul_write_over_their_dying_input():
    from edgekd.codegen.planner import plan_arena

    g = GraphBuilder("in_place", (1, 8, 8, 16))
    x = g.conv(g.input, 16)
    gate = g.unary(g.reduce(x, "MEAN", (1, 2), keep_dims=True), "LOGISTIC")
    y = g.unary(g.binary(x, gate, "MUL", activation="NONE"), "HARD_SWISH")
    graph = g.build(g.conv(y, 4))
    plan = plan_arena(graph)
    for op in ("MUL", "HARD_SWISH"):
        node = next(n for n in graph.nodes if n.op == op)
        out = plan.tensors[node.outputs[0]]
        assert out.alias_of is not None, op
        assert out.offset == plan.tensors[node.inputs[0]].offset
    _verified(graph)
