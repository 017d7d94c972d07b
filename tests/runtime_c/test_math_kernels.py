"""The reduction, broadcasting and table kernels (ekd_reduce_sum_s8.c, ekd_mul_s8.c and
their kin, ekd_lut_s8.c) against the numpy reference, byte for byte, over drawn shapes, axes,
broadcasts and quantization parameters prepared by edgekd's own Prepare."""
from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edgekd.codegen.layers import _PARAM_STRUCTS
from edgekd.reference.activations import lookup_table
from edgekd.registry import op_spec

from ..reference.single_op import arg_graph, binary_graph, reduce_graph, unary_graph
from ..reference.strategies import broadcast_cases
from .ekd_strategies import int8_arrays, kernel_settings, zero_points

scales = st.floats(-4.0, 0.0).map(lambda e: float(np.float32(10.0 ** e)))
quants = st.tuples(scales, zero_points)
shapes = st.lists(st.integers(1, 7), min_size=1, max_size=5).map(tuple)


def _prepared(graph):
    node = graph.nodes[0]
    spec = op_spec(node.op)
    return spec, (spec.prepare(graph, node) if spec.prepare else None)


def _fields(p) -> dict:
    return {k: v for k, v in dataclasses.asdict(p).items() if k != "axis"}


@kernel_settings(200)
@given(shape=shapes, data=st.data())
def test_reductions_match_reference_bytes(runtime, shape, data):
    axis = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    op = data.draw(st.sampled_from(["MEAN", "SUM", "REDUCE_MAX"]))
    in_q = data.draw(quants)
    out_q = in_q if op == "REDUCE_MAX" else data.draw(quants)
    graph = reduce_graph(op, shape, axis, data.draw(st.booleans()), in_q, out_q)
    spec, p = _prepared(graph)
    x = data.draw(int8_arrays(shape))
    y = graph.tensor("y").shape
    expected = spec.evaluate(p, [x], y)
    params = _fields(p) if op != "REDUCE_MAX" else None
    assert np.array_equal(runtime.reduce(spec.c_kernel, params, x, axis, y), expected)


@kernel_settings(100)
@given(shape=shapes, data=st.data())
def test_arg_max_and_min_match_reference(runtime, shape, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    op = data.draw(st.sampled_from(["ARG_MAX", "ARG_MIN"]))
    graph = arg_graph(op, shape, axis, (0.1, 0))
    spec, p = _prepared(graph)
    x = data.draw(int8_arrays(shape)) // 64  # ties
    out = runtime.reduce(spec.c_kernel, None, x, (axis,), graph.tensor("y").shape, np.int32)
    assert np.array_equal(out, spec.evaluate(p, [x], graph.tensor("y").shape))


@kernel_settings(300)
@given(shapes_=broadcast_cases(6), data=st.data())
def test_broadcast_ops_match_reference_bytes(runtime, shapes_, data):
    op = data.draw(st.sampled_from(["MUL", "SUB", "ADD", "PRELU", "MINIMUM", "MAXIMUM"]))
    q1 = data.draw(quants)
    same = op in ("MINIMUM", "MAXIMUM")
    q2, qo = (q1, q1) if same else (data.draw(quants), data.draw(quants))
    if op in ("SUB", "ADD"):  # TFLite needs 2 * max input scale < 2^20 * output scale
        qo = (max(qo[0], 2.0 * max(q1[0], q2[0]) / 2**19), qo[1])
    attrs = {"activation": data.draw(st.sampled_from(["NONE", "RELU", "RELU6"]))} \
        if op in ("MUL", "SUB", "ADD") else {}
    graph = binary_graph(op, *shapes_, q1, q2, qo, **attrs)
    spec, p = _prepared(graph)
    x1, x2 = data.draw(int8_arrays(shapes_[0])), data.draw(int8_arrays(shapes_[1]))
    struct = _PARAM_STRUCTS.get(op)
    kernel = "ekd_add_broadcast_s8" if op == "ADD" else spec.c_kernel
    out = runtime.broadcast(kernel, struct, _fields(p) if struct else None, x1, x2)
    assert np.array_equal(out, spec.evaluate(p, [x1, x2], graph.tensor("y").shape))


@kernel_settings(100)
@given(in_q=quants, out_q=quants, data=st.data())
def test_table_kernel_runs_each_activation_as_its_reference(runtime, in_q, out_q, data):
    op = data.draw(st.sampled_from(["RELU", "REQUANTIZE", "LEAKY_RELU", "TANH", "LOGISTIC"]))
    out_q = {"LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0)}.get(op, out_q)
    graph = unary_graph(op, (3, 5, 7), in_q, out_q, **({"alpha": 0.2} if op == "LEAKY_RELU"
                                                      else {}))
    spec, p = _prepared(graph)
    x = data.draw(int8_arrays((3, 5, 7)))
    assert np.array_equal(runtime.lut(lookup_table(spec.reference, p), x),
                          spec.evaluate(p, [x], (3, 5, 7)))


def test_mean_of_a_large_window_and_mul_of_many_channels(runtime):
    rng = np.random.default_rng(0)
    graph = reduce_graph("MEAN", (1, 128, 128, 3), (1, 2), True, (0.02, -128), (0.0001, 5))
    spec, p = _prepared(graph)
    x = rng.integers(-128, 128, (1, 128, 128, 3), dtype=np.int8)
    out = runtime.reduce(spec.c_kernel, _fields(p), x, (1, 2), (1, 1, 1, 3))
    assert np.array_equal(out, spec.evaluate(p, [x], (1, 1, 1, 3)))
    graph = binary_graph("MUL", (1, 2, 2, 2048), (1, 1, 1, 2048), (0.05, -3), (1 / 256, -128),
                         (0.02, 10), activation="NONE")
    spec, p = _prepared(graph)
    x1 = rng.integers(-128, 128, (1, 2, 2, 2048), dtype=np.int8)
    x2 = rng.integers(-128, 128, (1, 1, 1, 2048), dtype=np.int8)
    out = runtime.broadcast(spec.c_kernel, "ekd_mul_params", _fields(p), x1, x2)
    assert np.array_equal(out, spec.evaluate(p, [x1, x2], (1, 2, 2, 2048)))
