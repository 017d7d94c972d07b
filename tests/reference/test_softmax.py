"""SOFTMAX: the reference against TFLM, and gemmlowp's fixed-point helpers against the
functions they approximate."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.reference.params import prepare_softmax
from edgekd.reference.softmax import (
    exp_on_negative_values,
    one_over_one_plus_x_for_x_in_0_1,
    softmax,
)

from .single_op import assert_matches_tflm, int8_batch, softmax_graph
from .strategies import scales, seeds, zero_points


@st.composite
def softmax_cases(draw):
    depth = draw(st.one_of(st.integers(1, 16), st.integers(17, 500)))
    shape = draw(st.sampled_from([(1, depth), (3, depth), (1, 2, depth)]))
    beta = draw(st.one_of(st.just(1.0), st.floats(0.05, 4.0)))
    return dict(shape=shape, in_q=(draw(scales), draw(zero_points)), beta=beta)


@given(case=softmax_cases(), seed=seeds)
@settings(max_examples=150, deadline=None)
def test_softmax_matches_tflm(case, seed):
    rng = np.random.default_rng(seed)
    shape = case["shape"]
    # Random rows mostly saturate (one 127, the rest -128); rows within a few steps of
    # their maximum exercise the exponential and the reciprocal over their whole range.
    close = rng.integers(120, 128, size=(2, *shape)).astype(np.int8)
    batch = np.concatenate([int8_batch(rng, shape), close])
    assert_matches_tflm(softmax_graph(shape, case["in_q"], case["beta"]), batch)


def test_uniform_row_splits_evenly():
    graph = softmax_graph((1, 4), (0.1, 0))
    p = prepare_softmax(graph, graph.nodes[0])
    out = softmax(p, np.full((1, 4), 5, dtype=np.int8))
    assert out.tolist() == [[-128 + 64] * 4]  # 0.25 at scale 1/256, zero point -128


def test_values_below_diff_min_are_exactly_zero_probability():
    graph = softmax_graph((1, 3), (1.0, 0))  # exp(-255) is far below diff_min
    p = prepare_softmax(graph, graph.nodes[0])
    assert p.diff_min > -255
    out = softmax(p, np.array([[127, -128, 127]], dtype=np.int8))
    assert out.tolist() == [[0, -128, 0]]  # 0.5 is 128/256: -128 + 128


@given(st.integers(-31 << 26, 0))
@settings(max_examples=500)
def test_exp_on_negative_values_approximates_exp(raw):
    got = int(exp_on_negative_values(np.array([raw]))[0]) / 2.0**31
    assert abs(got - np.exp(raw / 2.0**26)) < 2e-8 * 2**4


@given(st.integers(0, (1 << 31) - 1))
@settings(max_examples=500)
def test_one_over_one_plus_x_approximates_reciprocal(raw):
    got = int(one_over_one_plus_x_for_x_in_0_1(np.array([raw]))[0]) / 2.0**31
    assert abs(got - 1.0 / (1.0 + raw / 2.0**31)) < 1e-8


def test_rows_summing_past_512_are_defined():
    # TFLM aborts here (a shift of 32+); the reference gives the rounded quotient:
    # 256 / 600 = 0.43 of a step rounds to 0, 256 / 300 = 0.85 to 1.
    graph = softmax_graph((2, 600), (0.1, 0))
    p = prepare_softmax(graph, graph.nodes[0])
    x = np.full((2, 600), 9, dtype=np.int8)
    x[1, 300:] = -128  # far below diff_min: the second row sums 300 exps
    out = softmax(p, x)
    assert (out[0] == -128).all()
    assert (out[1, :300] == -127).all() and (out[1, 300:] == -128).all()
