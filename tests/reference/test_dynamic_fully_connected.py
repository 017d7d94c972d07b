"""DYNAMIC_FULLY_CONNECTED: the reference against LiteRT's hybrid FULLY_CONNECTED (the
oracle: a .tflite written by edgekd, run by TFLite's own kernels), by-hand cases of the
input quantization, and the IR's checks of the op."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.errors import GraphError
from edgekd.frontends.tflite import read_tflite, write_tflite
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.interpreter import run
from edgekd.reference.dynamic_fully_connected import quantize_vector
from edgekd.shapes import node_macs

from .strategies import activations, seeds


def dynamic_graph(x_shape: tuple[int, ...], weights: np.ndarray, scales, bias,
                  activation: str = "NONE") -> Graph:
    units = weights.shape[0]
    rows = int(np.prod(x_shape)) // weights.shape[1]
    y_shape = (rows, units) if len(x_shape) == 2 else (*x_shape[:-1], units)
    tensors = {
        "x": Tensor("x", x_shape, "float32"),
        "w": Tensor("w", weights.shape, "int8",
                    QuantParams(np.asarray(scales), np.zeros(len(scales)), 0),
                    np.asarray(weights, dtype=np.int8)),
        "y": Tensor("y", y_shape, "float32"),
    }
    if bias is not None:
        tensors["b"] = Tensor("b", (units,), "float32", None, np.asarray(bias, np.float32))
    node = Node("DYNAMIC_FULLY_CONNECTED", "fc", ["x", "w", "b" if bias is not None else ""],
                ["y"], {"activation": activation})
    return Graph("dynamic", tensors, [node], ["x"], ["y"]).validate()


def float_rows(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Inputs at magnitudes from 1e-6 to 1e6, one-signed or mixed, some rows all zero."""
    x = rng.normal(size=shape) * 10.0 ** rng.uniform(-6, 6)
    kind = rng.integers(4)
    if kind == 1:
        x = np.abs(x)
    elif kind == 2:
        x = -np.abs(x)
    elif kind == 3:
        x.reshape(-1, shape[-1])[0] = 0.0
    return x.astype(np.float32)


def run_litert(data: bytes, inputs: np.ndarray, resolver: str) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=data,
                              experimental_op_resolver_type=getattr(OpResolverType, resolver))
    interpreter.allocate_tensors()
    x, y = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for sample in inputs:
        interpreter.set_tensor(x["index"], sample)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(y["index"]).copy())
    return np.stack(outputs)


@st.composite
def oracle_cases(draw):
    depth = draw(st.integers(1, 48))
    return dict(x_shape=draw(st.sampled_from([(1, depth), (3, depth), (1, 2, 1, depth)])),
                units=draw(st.integers(1, 12)), activation=draw(activations),
                per_channel=draw(st.booleans()), with_bias=draw(st.booleans()))


# LiteRT's reference kernels, and its optimized builtins without the XNNPACK delegate
# (XNNPACK quantizes inputs its own way and is not TFLite's hybrid semantics).
@pytest.mark.parametrize("resolver", ["BUILTIN_REF", "BUILTIN_WITHOUT_DEFAULT_DELEGATES"])
@given(case=oracle_cases(), seed=seeds)
@settings(max_examples=60, deadline=None)
def test_matches_litert_hybrid_fully_connected(resolver, case, seed):
    pytest.importorskip("ai_edge_litert")
    rng = np.random.default_rng(seed)
    depth = case["x_shape"][-1]
    weights = rng.integers(-127, 128, (case["units"], depth))
    scales = (10.0 ** rng.uniform(-4, 0, case["units"] if case["per_channel"] else 1))
    bias = rng.normal(size=case["units"]) * 10 if case["with_bias"] else None
    graph = dynamic_graph(case["x_shape"], weights, scales, bias, case["activation"])
    data = write_tflite(graph)
    inputs = np.stack([float_rows(rng, case["x_shape"]) for _ in range(8)])
    expected = run_litert(data, inputs, resolver)
    ours = np.stack([run(read_tflite(data), sample)[0] for sample in inputs])
    assert ours.dtype == expected.dtype == np.float32
    differs = ours.view(np.uint32) != expected.reshape(ours.shape).view(np.uint32)
    assert not differs.any(), f"{int(differs.sum())} values differ"


def test_scale_one_grid_quantizes_exactly():
    row = np.array([-128.0, 127.0, 3.0, -2.5, 2.5], dtype=np.float32)
    q, scale, zero_point = quantize_vector(row)
    assert (scale, zero_point) == (np.float32(1.0), 0)
    assert q.tolist() == [-128, 127, 3, -3, 3]  # halves away from zero


def test_zero_point_rounds_half_away_from_zero():
    # scale 1 and zero_point_from_min = -128 + 1.5 = -126.5: -127, where round-half-even
    # (Python's round, numpy's rint) would give -126.
    _, scale, zero_point = quantize_vector(np.array([-1.5, 253.5], dtype=np.float32))
    assert (scale, zero_point) == (np.float32(1.0), -127)


def test_range_difference_rounds_to_float32():
    # 16777216 + 1 is not a float32: TFLite's float range gives 16777216, not 16777217.
    _, scale, _ = quantize_vector(np.array([-1.0, 16777216.0], dtype=np.float32))
    assert scale == np.float32(16777216.0 / 255)


@pytest.mark.parametrize("row, why", [
    (np.zeros(5), "all zero"),
    (np.array([0.0, -0.0, 1e-40, -2e-40, 0.0]), "range below FLT_MIN * 255"),
])
def test_vectors_that_cannot_be_scaled_give_the_bias(row, why):
    bias = np.array([1.5, -2.0], dtype=np.float32)
    graph = dynamic_graph((1, 5), np.ones((2, 5)), [0.5, 0.25], bias, "RELU")
    assert run(graph, row.astype(np.float32)[None])[0].tolist() == [[1.5, 0.0]], why


def test_overflowing_range_saturates_and_stays_finite():
    row = np.array([[-3.0e38, 3.0e38, 1.0]], dtype=np.float32)
    q, scale, zero_point = quantize_vector(row[0])
    assert scale == np.float32(float(np.finfo(np.float32).max) / 255)
    graph = dynamic_graph((1, 3), np.full((2, 3), 127), [127.0, 1e-3], None)
    out = run(graph, row)[0]
    assert np.isfinite(out).all() and out[0, 0] == np.finfo(np.float32).max


def test_by_hand():
    # x = [-128, 127, 0]: scale 1, zero point 0, q = x. Output c = sum(w * q) * 0.5 + b.
    graph = dynamic_graph((1, 3), np.array([[1, 1, 1], [2, 0, -1]]), [0.5, 0.5],
                          [0.25, -300.0], "RELU6")
    out = run(graph, np.array([[-128.0, 127.0, 0.0]], dtype=np.float32))[0]
    assert out.tolist() == [[0.0, 0.0]]  # -0.25 and -428 clamp to 0
    graph = dynamic_graph((1, 3), np.array([[1, 1, 1], [-1, 0, 0]]), [0.5, 0.0625], None)
    out = run(graph, np.array([[-128.0, 127.0, 0.0]], dtype=np.float32))[0]
    assert out.tolist() == [[-0.5, 8.0]]


@pytest.mark.parametrize("change, message", [
    ({"x": "int8"}, "input and output must be float32"),
    ({"b": "int32"}, "bias must be a constant float32"),
    ({"scale": 200.0}, "scale above 127"),
])
def test_graph_checks_name_the_node(change, message):
    graph = dynamic_graph((1, 4), np.ones((2, 4)), [0.5, 0.5], [1.0, 2.0])
    if "x" in change:
        graph.tensors["x"] = Tensor("x", (1, 4), "int8", QuantParams.per_tensor(1.0))
    if "b" in change:
        graph.tensors["b"] = Tensor("b", (2,), "int32", None, np.ones(2, dtype=np.int32))
    if "scale" in change:
        graph.tensors["w"].quant = QuantParams(np.array([0.5, change["scale"]]),
                                               np.zeros(2), 0)
    with pytest.raises(GraphError, match=f"node 0 \\(DYNAMIC_FULLY_CONNECTED 'fc'\\).*{message}"):
        graph.validate()


def test_macs_and_tflite_round_trip():
    graph = dynamic_graph((1, 2, 1, 6), np.ones((4, 6)), [0.5] * 4, None, "RELU")
    assert node_macs(graph, graph.nodes[0]) == 2 * 4 * 6
    again = read_tflite(write_tflite(graph))
    assert [n.op for n in again.nodes] == ["DYNAMIC_FULLY_CONNECTED"]
    assert again.nodes[0].attrs == {"activation": "RELU"}
    assert again.tensor("w").quant.same_as(graph.tensor("w").quant)
