"""CONV_2D: the reference against TFLM on random shapes, strides, dilations, paddings,
per-tensor and per-channel scales, zero points and activations."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.errors import EdgeKDError, UnsupportedError
from edgekd.frontends.tflite import write_tflite
from edgekd.reference.conv import conv2d
from edgekd.reference.params import prepare_conv
from edgekd.verify.tflm import run_tflm

from .single_op import assert_matches_tflm, conv2d_graph, int8_batch
from .strategies import (activations, channel_scales, log2_multipliers, output_scale,
                         paddings, quants, scales, seeds)


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.sampled_from([(1, 1), (1, 1), (2, 1), (1, 2), (2, 3)]))
    padding = draw(paddings)
    h = draw(st.integers((kh - 1) * dh + 1 if padding == "VALID" else 1, 10))
    w = draw(st.integers((kw - 1) * dw + 1 if padding == "VALID" else 1, 10))
    return dict(
        x_shape=(draw(st.sampled_from([1, 1, 2])), h, w, draw(st.integers(1, 6))),
        kernel=(kh, kw), out_c=draw(st.integers(1, 8)), dilation=(dh, dw), padding=padding,
        stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        activation=draw(activations), in_q=draw(quants), w_scale=draw(scales),
        log2_multiplier=draw(log2_multipliers), per_channel=draw(st.booleans()),
        with_bias=draw(st.booleans()),
    )


@given(case=conv_cases(), seed=seeds)
@settings(max_examples=150, deadline=None)
def test_conv2d_matches_tflm(case, seed):
    rng = np.random.default_rng(seed)
    in_c = case["x_shape"][3]
    weights = rng.integers(-127, 128, (case["out_c"], *case["kernel"], in_c))
    w_scales = channel_scales(rng, case["w_scale"], case["out_c"], case["per_channel"])
    bias = rng.integers(-(1 << 16), 1 << 16, case["out_c"]) if case["with_bias"] else None
    out_q = (output_scale(case["in_q"][0], case["w_scale"], case["log2_multiplier"]),
             int(rng.integers(-128, 128)))
    graph = conv2d_graph(case["x_shape"], weights, bias, case["in_q"], w_scales, out_q,
                         stride=case["stride"], dilation=case["dilation"],
                         padding=case["padding"], activation=case["activation"])
    assert_matches_tflm(graph, int8_batch(rng, case["x_shape"]))


def test_padding_contributes_nothing():
    # Input at its zero point: every tap inside the image adds 0, padding must add 0 too,
    # so each output is the requantized bias alone, at the corners as in the middle.
    weights = np.full((2, 3, 3, 1), 100)
    graph = conv2d_graph((1, 4, 4, 1), weights, np.array([1000, -1000]), (0.5, 7), [0.01],
                         (0.01, 0), padding="SAME")
    p = prepare_conv(graph, graph.nodes[0])
    x = np.full((1, 4, 4, 1), 7, dtype=np.int8)
    out = conv2d(p, x, weights.astype(np.int8), np.array([1000, -1000], np.int32),
                 (1, 4, 4, 2))
    # bias * in_scale * w_scale / out_scale = +-1000 * 0.5 * 0.01 / 0.01 = +-500 -> clamp
    assert (out[..., 0] == 127).all() and (out[..., 1] == -128).all()


def test_one_by_one_convolution_by_hand():
    weights = np.array([[[[1, -2]]], [[[3, 4]]]])  # [2, 1, 1, 2]
    graph = conv2d_graph((1, 1, 2, 2), weights, None, (1.0, -1), [1.0], (1.0, 5),
                         padding="VALID")
    p = prepare_conv(graph, graph.nodes[0])
    x = np.array([[[[1, 2], [-1, 0]]]], dtype=np.int8)
    out = conv2d(p, x, weights.astype(np.int8), None, (1, 1, 2, 2))
    # (x + 1) . w + 5: pixel (2, 3) -> (2 - 6 + 5, 6 + 12 + 5); pixel (0, 1) -> (-2+5, 4+5)
    assert out.tolist() == [[[[1, 23], [3, 9]]]]


def test_relu6_bound_beyond_int32_is_rejected_as_tflm_rejects_it():
    # 6 / 1e-9 does not fit in int32: TFLM's Prepare fails, so must edgekd's.
    graph = conv2d_graph((1, 1, 1, 1), np.ones((1, 1, 1, 1)), None, (1e-4, 0), [1e-5],
                         (1e-9, 0), activation="RELU6")
    with pytest.raises(UnsupportedError, match=r"node 'conv_2d' \(CONV_2D\): RELU6 bound"):
        prepare_conv(graph, graph.nodes[0])
    with pytest.raises(EdgeKDError, match="cannot prepare"):
        run_tflm(write_tflite(graph), np.zeros((1, 1, 1, 1, 1), np.int8))
