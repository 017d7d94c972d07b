"""ADD: the reference against TFLM over input scale ratios, zero points and activations."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.errors import UnsupportedError
from edgekd.reference.add import add
from edgekd.reference.params import prepare_add

from .single_op import add_graph, assert_matches_tflm, int8_batch
from .strategies import activations, quants, seeds, zero_points


@st.composite
def add_cases(draw):
    q1, q2 = draw(quants), draw(quants)
    # Output scale within 2^-8 .. 2^8 of the larger input scale (TFLite needs > 2^-19).
    out_scale = float(np.float32(max(q1[0], q2[0]) * 2.0 ** draw(st.floats(-8.0, 8.0))))
    shape = draw(st.sampled_from([(1, 4, 4, 3), (2, 7), (1, 1, 1, 33), (5,)]))
    return dict(shape=shape, q1=q1, q2=q2, out_q=(out_scale, draw(zero_points)),
                activation=draw(activations))


@given(case=add_cases(), seed=seeds)
@settings(max_examples=150, deadline=None)
def test_add_matches_tflm(case, seed):
    rng = np.random.default_rng(seed)
    graph = add_graph(case["shape"], case["q1"], case["q2"], case["out_q"], case["activation"])
    assert_matches_tflm(graph, int8_batch(rng, case["shape"]), int8_batch(rng, case["shape"]))


def test_same_scales_add_exactly():
    graph = add_graph((4,), (0.5, 0), (0.5, 0), (0.5, 0))
    p = prepare_add(graph, graph.nodes[0])
    x1 = np.array([1, -1, 100, -100], dtype=np.int8)
    x2 = np.array([2, -2, 100, -100], dtype=np.int8)
    assert add(p, x1, x2).tolist() == [3, -3, 127, -128]


def test_output_scale_too_small_is_rejected_naming_the_node():
    graph = add_graph((4,), (1.0, 0), (1.0, 0), (1e-7, 0))
    with pytest.raises(UnsupportedError, match="node 'add' \\(ADD\\).*output scale"):
        prepare_add(graph, graph.nodes[0])
