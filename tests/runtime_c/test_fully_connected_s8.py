"""ekd_fully_connected_s8 (runtime_c/src/ekd_fully_connected_s8.c) against the numpy
reference fully_connected."""
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

from edgekd.reference.fully_connected import fully_connected
from edgekd.reference.params import FullyConnectedParams


@st.composite
def fully_connected_cases(draw):
    batches = draw(st.integers(1, 3))
    inputs = draw(st.integers(1, 96))
    outputs = draw(st.integers(1, 16))
    x = draw(int8_arrays((batches, inputs)))
    w = draw(int8_arrays((outputs, inputs)))
    multiplier, shift = draw(requantization(outputs))
    act_min, act_max = draw(activation_ranges())
    # Symmetric weights (offset 0) are edgekd's scheme; TFLM's per-tensor kernel also
    # takes an offset, so the kernel supports one.
    filter_offset = draw(st.one_of(st.just(0), st.integers(-127, 128)))
    p = FullyConnectedParams(
        input_offset=-draw(zero_points), filter_offset=filter_offset,
        output_offset=draw(zero_points), activation_min=act_min, activation_max=act_max,
        multiplier=multiplier, shift=shift)
    return p, x, w, draw(biases(outputs)), (batches, outputs)


@kernel_settings(300)
@given(case=fully_connected_cases())
def test_fully_connected_matches_reference_bytes(runtime, case):
    p, x, w, bias, out_shape = case
    expected = fully_connected(p, x, w, bias, out_shape)
    actual = runtime.fully_connected(p, x, w, bias, out_shape)
    assert actual.dtype == expected.dtype == np.int8
    assert np.array_equal(actual, expected)
