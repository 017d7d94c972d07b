"""ekd_depthwise_conv2d_s8 (runtime_c/src/ekd_depthwise_conv2d_s8.c) against the numpy
reference depthwise_conv2d."""
from __future__ import annotations

import numpy as np
from .ekd_strategies import (
    activation_ranges,
    biases,
    int8_arrays,
    kernel_settings,
    requantization,
    zero_points,
)
from hypothesis import given
from hypothesis import strategies as st
from .test_conv2d_s8 import spatial

from edgekd.reference.depthwise_conv import depthwise_conv2d
from edgekd.reference.params import ConvParams


@st.composite
def depthwise_cases(draw):
    s = draw(spatial())
    batches = draw(st.integers(1, 2))
    in_c = draw(st.integers(1, 6))
    depth_multiplier = draw(st.integers(1, 3))
    out_c = in_c * depth_multiplier
    x = draw(int8_arrays((batches, s["in_h"], s["in_w"], in_c)))
    w = draw(int8_arrays((1, s["kernel_h"], s["kernel_w"], out_c)))
    multiplier, shift = draw(requantization(out_c))
    act_min, act_max = draw(activation_ranges())
    p = ConvParams(
        input_offset=-draw(zero_points), output_offset=draw(zero_points),
        stride_h=s["stride_h"], stride_w=s["stride_w"],
        dilation_h=s["dilation_h"], dilation_w=s["dilation_w"],
        pad_h=s["pad_h"], pad_w=s["pad_w"], depth_multiplier=depth_multiplier,
        activation_min=act_min, activation_max=act_max, multiplier=multiplier, shift=shift)
    return p, x, w, draw(biases(out_c)), (batches, s["out_h"], s["out_w"], out_c)


@kernel_settings(300)
@given(case=depthwise_cases())
def test_depthwise_conv2d_matches_reference_bytes(runtime, case):
    p, x, w, bias, out_shape = case
    expected = depthwise_conv2d(p, x, w, bias, out_shape)
    actual = runtime.depthwise_conv2d(p, x, w, bias, out_shape)
    assert actual.dtype == expected.dtype == np.int8
    assert np.array_equal(actual, expected)
