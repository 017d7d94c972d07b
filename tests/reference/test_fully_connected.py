"""FULLY_CONNECTED: the reference against TFLM, per-tensor and per-channel weights."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.reference.fully_connected import fully_connected
from edgekd.reference.params import prepare_fully_connected

from .single_op import assert_matches_tflm, fully_connected_graph, int8_batch
from .strategies import (activations, channel_scales, log2_multipliers, output_scale,
                         quants, scales, seeds)


@st.composite
def fully_connected_cases(draw):
    depth = draw(st.integers(1, 64))
    rows = draw(st.integers(1, 3))
    # A 4-D input flattens into rows of `depth` values, as after a conv stack.
    x_shape = draw(st.sampled_from([(rows, depth), (1, rows, 1, depth)]))
    return dict(
        x_shape=x_shape, depth=depth, units=draw(st.integers(1, 16)),
        activation=draw(activations), in_q=draw(quants), w_scale=draw(scales),
        log2_multiplier=draw(log2_multipliers), per_channel=draw(st.booleans()),
        with_bias=draw(st.booleans()),
    )


@given(case=fully_connected_cases(), seed=seeds)
@settings(max_examples=150, deadline=None)
def test_fully_connected_matches_tflm(case, seed):
    rng = np.random.default_rng(seed)
    weights = rng.integers(-127, 128, (case["units"], case["depth"]))
    w_scales = channel_scales(rng, case["w_scale"], case["units"], case["per_channel"])
    bias = rng.integers(-(1 << 16), 1 << 16, case["units"]) if case["with_bias"] else None
    out_q = (output_scale(case["in_q"][0], case["w_scale"], case["log2_multiplier"]),
             int(rng.integers(-128, 128)))
    graph = fully_connected_graph(case["x_shape"], weights, bias, case["in_q"], w_scales,
                                  out_q, case["activation"])
    assert_matches_tflm(graph, int8_batch(rng, case["x_shape"]))


def test_per_tensor_multiplier_is_a_double_product_as_in_tflm():
    # Found by hypothesis: with a float32 product of the scales the real multiplier is exactly
    # 0.5 and -53.5 rounds to -53; TFLM multiplies in double (0.49999998), rounds twice and
    # gives -54. Checked against TFLM itself, not against a formula.
    rng = np.random.default_rng(0)
    s = float(np.float32(0.1))
    out_scale = float(np.float32(s * s / 0.5))
    for _ in range(20):
        weights = rng.integers(-127, 128, (9, 1))
        graph = fully_connected_graph((1, 1), weights, None, (s, 127), [s], (out_scale, 0))
        assert_matches_tflm(graph, int8_batch(rng, (1, 1)))


def test_rows_by_hand():
    weights = np.array([[1, 1, 1], [1, -1, 0]])
    graph = fully_connected_graph((2, 3), weights, np.array([0, 100]), (1.0, 1), [1.0],
                                  (2.0, -3))
    p = prepare_fully_connected(graph, graph.nodes[0])
    x = np.array([[1, 2, 3], [-1, -1, -1]], dtype=np.int8)
    out = fully_connected(p, x, weights.astype(np.int8), np.array([0, 100], np.int32), (2, 2))
    # (x - 1) . w (+ bias), halved (half rounds up in the high multiply), minus 3
    assert out.tolist() == [[-3 + 2, -3 + 50], [-3 - 3, -3 + 50]]
