"""DEPTHWISE_CONV_2D: the reference against TFLM, depth multipliers included."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.reference.depthwise_conv import depthwise_conv2d
from edgekd.reference.params import prepare_conv

from .single_op import assert_matches_tflm, depthwise_conv2d_graph, int8_batch
from .strategies import (activations, channel_scales, log2_multipliers, output_scale,
                         paddings, quants, scales, seeds)


@st.composite
def depthwise_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.sampled_from([(1, 1), (1, 1), (2, 1), (1, 2), (3, 2)]))
    padding = draw(paddings)
    h = draw(st.integers((kh - 1) * dh + 1 if padding == "VALID" else 1, 10))
    w = draw(st.integers((kw - 1) * dw + 1 if padding == "VALID" else 1, 10))
    return dict(
        x_shape=(draw(st.sampled_from([1, 1, 2])), h, w, draw(st.integers(1, 5))),
        kernel=(kh, kw), depth_multiplier=draw(st.sampled_from([1, 1, 2, 3])),
        dilation=(dh, dw), padding=padding,
        stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        activation=draw(activations), in_q=draw(quants), w_scale=draw(scales),
        log2_multiplier=draw(log2_multipliers), per_channel=draw(st.booleans()),
        with_bias=draw(st.booleans()),
    )


@given(case=depthwise_cases(), seed=seeds)
@settings(max_examples=150, deadline=None)
def test_depthwise_conv2d_matches_tflm(case, seed):
    rng = np.random.default_rng(seed)
    out_c = case["x_shape"][3] * case["depth_multiplier"]
    weights = rng.integers(-127, 128, (1, *case["kernel"], out_c))
    w_scales = channel_scales(rng, case["w_scale"], out_c, case["per_channel"])
    bias = rng.integers(-(1 << 16), 1 << 16, out_c) if case["with_bias"] else None
    out_q = (output_scale(case["in_q"][0], case["w_scale"], case["log2_multiplier"]),
             int(rng.integers(-128, 128)))
    graph = depthwise_conv2d_graph(
        case["x_shape"], weights, bias, case["in_q"], w_scales, out_q,
        depth_multiplier=case["depth_multiplier"], stride=case["stride"],
        dilation=case["dilation"], padding=case["padding"], activation=case["activation"])
    assert_matches_tflm(graph, int8_batch(rng, case["x_shape"]))


def test_output_channel_reads_input_channel_over_multiplier():
    # Two input channels, multiplier 2: outputs 0, 1 read channel 0 and 2, 3 channel 1.
    weights = np.array([[[[1, 2, 3, 4]]]])  # [1, 1, 1, 4]
    graph = depthwise_conv2d_graph((1, 1, 1, 2), weights, None, (1.0, 0), [1.0], (1.0, 0),
                                   depth_multiplier=2, padding="VALID")
    p = prepare_conv(graph, graph.nodes[0])
    x = np.array([[[[10, -7]]]], dtype=np.int8)
    out = depthwise_conv2d(p, x, weights.astype(np.int8), None, (1, 1, 1, 4))
    assert out.ravel().tolist() == [10, 20, -21, -28]
