"""AVERAGE_POOL_2D and MAX_POOL_2D: the reference against TFLM."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.reference.params import prepare_pool
from edgekd.reference.pooling import average_pool, max_pool

from .single_op import assert_matches_tflm, int8_batch, pool_graph
from .strategies import activations, paddings, quants, seeds


@st.composite
def pool_cases(draw):
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(paddings)
    h = draw(st.integers(fh if padding == "VALID" else 1, 9))
    w = draw(st.integers(fw if padding == "VALID" else 1, 9))
    return dict(
        x_shape=(draw(st.sampled_from([1, 1, 2])), h, w, draw(st.integers(1, 6))),
        filter_hw=(fh, fw), stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        padding=padding, activation=draw(activations), quant=draw(quants),
    )


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@given(case=pool_cases(), seed=seeds)
@settings(max_examples=100, deadline=None)
def test_pool_matches_tflm(op, case, seed):
    graph = pool_graph(op, case["x_shape"], case["quant"], filter_hw=case["filter_hw"],
                       stride=case["stride"], padding=case["padding"],
                       activation=case["activation"])
    assert_matches_tflm(graph, int8_batch(np.random.default_rng(seed), case["x_shape"]))


def test_average_rounds_half_away_and_ignores_padding():
    # 2x2 windows, SAME padding on a 3x3 input: the last row/column windows hold 2 or 1
    # values; the mean divides by what is inside the image, rounding halves away from 0.
    graph = pool_graph("AVERAGE_POOL_2D", (1, 3, 3, 1), (1.0, 0), filter_hw=(2, 2),
                       stride=(2, 2), padding="SAME")
    p = prepare_pool(graph, graph.nodes[0])
    x = np.array([[1, 2, -3], [0, 0, -4], [5, -6, 7]], dtype=np.int8).reshape(1, 3, 3, 1)
    out = average_pool(p, x, (1, 2, 2, 1))
    # (1+2+0+0)/4 = 0.75 -> 1; (-3-4)/2 = -3.5 -> -4; (5-6)/2 = -0.5 -> -1; 7/1 = 7
    assert out.ravel().tolist() == [1, -4, -1, 7]


def test_max_ignores_padding_and_clamps_to_activation():
    graph = pool_graph("MAX_POOL_2D", (1, 2, 2, 1), (0.1, -100), filter_hw=(3, 3),
                       stride=(1, 1), padding="SAME", activation="RELU")
    p = prepare_pool(graph, graph.nodes[0])
    x = np.array([-128, -128, -128, -110], dtype=np.int8).reshape(1, 2, 2, 1)
    # every window holds -110 at most; RELU clamps below the zero point -100
    assert max_pool(p, x, (1, 2, 2, 1)).ravel().tolist() == [-100] * 4
