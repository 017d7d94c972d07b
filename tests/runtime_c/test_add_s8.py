"""ekd_add_s8 (runtime_c/src/ekd_add_s8.c) against the numpy reference add, with
parameters from edgekd's own Prepare (reference/params.py: prepare_add)."""
from __future__ import annotations

import numpy as np
from .ekd_strategies import int8_arrays, kernel_settings, zero_points
from hypothesis import given
from hypothesis import strategies as st

from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.reference.add import add
from edgekd.reference.params import prepare_add

scales = st.floats(-4.0, 0.0).map(lambda e: float(10.0 ** e))


@st.composite
def add_cases(draw):
    shape = (1, draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 8)))
    quant = {name: QuantParams.per_tensor(draw(scales), draw(zero_points))
             for name in ("x1", "x2", "y")}
    graph = Graph("add", {name: Tensor(name, shape, "int8", q) for name, q in quant.items()},
                  [], ["x1", "x2"], ["y"])
    node = Node("ADD", "add", ["x1", "x2"], ["y"],
                {"activation": draw(st.sampled_from(("NONE", "RELU", "RELU6")))})
    return prepare_add(graph, node), draw(int8_arrays(shape)), draw(int8_arrays(shape))


@kernel_settings(300)
@given(case=add_cases())
def test_add_matches_reference_bytes(runtime, case):
    p, x1, x2 = case
    expected = add(p, x1, x2)
    actual = runtime.add(p, x1, x2)
    assert actual.dtype == expected.dtype == np.int8
    assert np.array_equal(actual, expected)


@kernel_settings(50)
@given(case=add_cases())
def test_add_output_may_alias_first_input(runtime, case):
    """The generated code may place ADD's output over an input it no longer needs."""
    p, x1, x2 = case
    expected = add(p, x1, x2)
    buffer = np.ascontiguousarray(x1).copy()
    status = runtime.lib.ekd_add_s8(runtime.add_params(p), buffer.size,
                                    runtime.ptr("int8_t", buffer), runtime.ptr("int8_t", x2),
                                    runtime.ptr("int8_t", buffer))
    assert status == 0
    assert np.array_equal(buffer, expected)
