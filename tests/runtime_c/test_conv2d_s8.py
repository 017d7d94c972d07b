"""ekd_conv2d_s8 (runtime_c/src/ekd_conv2d_s8.c) against the numpy reference conv2d."""
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

from edgekd.reference.conv import conv2d
from edgekd.reference.params import ConvParams
from edgekd.shapes import conv_output_size, same_padding


@st.composite
def spatial(draw, kernel_max: int = 4) -> dict:
    """Kernel, stride, dilation, padding and the input/output extents they imply."""
    out = {}
    for axis in ("h", "w"):
        kernel = draw(st.integers(1, kernel_max))
        stride = draw(st.integers(1, 3))
        dilation = draw(st.integers(1, 3))
        padding = draw(st.sampled_from(("SAME", "VALID")))
        effective = (kernel - 1) * dilation + 1
        # VALID needs the dilated kernel to fit; SAME takes any input size.
        size = draw(st.integers(effective if padding == "VALID" else 1, effective + 7))
        out_size = conv_output_size(size, kernel, stride, dilation, padding)
        pad = same_padding(size, kernel, stride, dilation, out_size) if padding == "SAME" else 0
        out.update({f"kernel_{axis}": kernel, f"stride_{axis}": stride,
                    f"dilation_{axis}": dilation, f"in_{axis}": size,
                    f"out_{axis}": out_size, f"pad_{axis}": pad})
    return out


@st.composite
def conv_cases(draw):
    s = draw(spatial())
    batches = draw(st.integers(1, 2))
    in_c = draw(st.integers(1, 8))
    out_c = draw(st.integers(1, 8))
    x = draw(int8_arrays((batches, s["in_h"], s["in_w"], in_c)))
    w = draw(int8_arrays((out_c, s["kernel_h"], s["kernel_w"], in_c)))
    multiplier, shift = draw(requantization(out_c))
    act_min, act_max = draw(activation_ranges())
    p = ConvParams(
        input_offset=-draw(zero_points), output_offset=draw(zero_points),
        stride_h=s["stride_h"], stride_w=s["stride_w"],
        dilation_h=s["dilation_h"], dilation_w=s["dilation_w"],
        pad_h=s["pad_h"], pad_w=s["pad_w"], depth_multiplier=1,
        activation_min=act_min, activation_max=act_max, multiplier=multiplier, shift=shift)
    return p, x, w, draw(biases(out_c)), (batches, s["out_h"], s["out_w"], out_c)


@kernel_settings(300)
@given(case=conv_cases())
def test_conv2d_matches_reference_bytes(runtime, case):
    p, x, w, bias, out_shape = case
    expected = conv2d(p, x, w, bias, out_shape)
    actual = runtime.conv2d(p, x, w, bias, out_shape)
    assert actual.dtype == expected.dtype == np.int8
    assert np.array_equal(actual, expected)


def test_conv2d_pointwise_known_values(runtime):
    """A 1x1 convolution worked by hand: ((x + 1) * w summed + bias) * 0.5 - 3."""
    x = np.array([[[[1, 2], [3, -4]]]], dtype=np.int8)            # 1x1x2x2
    w = np.array([[[[1, 1]]], [[[2, -1]]]], dtype=np.int8)         # 2x1x1x2
    bias = np.array([10, 0], dtype=np.int32)
    p = ConvParams(input_offset=1, output_offset=-3, stride_h=1, stride_w=1, dilation_h=1,
                   dilation_w=1, pad_h=0, pad_w=0, depth_multiplier=1, activation_min=-128,
                   activation_max=127, multiplier=np.array([1 << 30] * 2, dtype=np.int32),
                   shift=np.array([0, 0], dtype=np.int32))
    # pixel (2, 3): ch0 = 2 + 3 + 10 = 15 -> 7.5 -> 8 -> 5; ch1 = 4 - 3 = 1 -> 0.5 -> 1 -> -2
    # pixel (4, -3): ch0 = 4 - 3 + 10 = 11 -> 5.5 -> 6 -> 3; ch1 = 8 + 3 = 11 -> 6 -> 3
    expected = np.array([[[[5, -2], [3, 3]]]], dtype=np.int8)
    assert np.array_equal(runtime.conv2d(p, x, w, bias, (1, 1, 2, 2)), expected)
