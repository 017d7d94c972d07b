"""ekd_softmax_s8 (runtime_c/src/ekd_softmax_s8.c) against the numpy reference softmax,
with parameters from edgekd's own Prepare (reference/params.py: prepare_softmax)."""
from __future__ import annotations

import numpy as np
from .ekd_strategies import int8_arrays, kernel_settings
from hypothesis import given
from hypothesis import strategies as st

from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.reference.params import SoftmaxParams, prepare_softmax
from edgekd.reference.softmax import softmax


def softmax_params(input_scale: float, beta: float, shape=(1, 10)) -> SoftmaxParams:
    graph = Graph("softmax", {
        "x": Tensor("x", shape, "int8", QuantParams.per_tensor(input_scale, 0)),
        "y": Tensor("y", shape, "int8", QuantParams.per_tensor(1 / 256, -128)),
    }, [], ["x"], ["y"])
    return prepare_softmax(graph, Node("SOFTMAX", "softmax", ["x"], ["y"], {"beta": beta}))


@st.composite
def softmax_cases(draw):
    input_scale = 10.0 ** draw(st.floats(-3.0, 0.0))
    beta = draw(st.one_of(st.just(1.0), st.floats(0.1, 4.0)))
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 64)))
    return softmax_params(input_scale, beta), draw(int8_arrays(shape))


@kernel_settings(300)
@given(case=softmax_cases())
def test_softmax_matches_reference_bytes(runtime, case):
    p, x = case
    expected = softmax(p, x)
    actual = runtime.softmax(p, x)
    assert actual.dtype == expected.dtype == np.int8
    assert np.array_equal(actual, expected)


def test_softmax_of_equal_values_is_uniform(runtime):
    """Ten equal inputs: each output is 1/10, i.e. 25.6/256 -> 26 - 128 = -102."""
    out = runtime.softmax(softmax_params(0.1, 1.0), np.full((1, 10), 5, dtype=np.int8))
    assert out.ravel().tolist() == [-102] * 10


def test_softmax_of_long_rows_near_their_maximum(runtime):
    """Rows of 512+ equal values push TFLM's final shift past 31 (TFLM stops there);
    edgekd defines every output as the rounded quotient 0, i.e. -128."""
    p = softmax_params(0.05, 1.0, (2, 600))
    x = np.zeros((2, 600), dtype=np.int8)
    x[1, ::2] = -100
    expected = softmax(p, x)
    assert np.array_equal(runtime.softmax(p, x), expected)
