"""The interpreter: wiring of a multi-op graph (against TFLM, every tensor), input checks,
and preparing each graph once."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgekd import registry
from edgekd.errors import EdgeKDError
from edgekd.frontends.tflite import write_tflite
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.interpreter import run, run_all
from edgekd.verify.tflm import run_tflm_tensors


def chain_graph() -> Graph:
    """float32 -> QUANTIZE -> DEPTHWISE -> CONV -> MAX_POOL -> ADD(skip) -> AVERAGE_POOL
    -> RESHAPE -> FULLY_CONNECTED -> SOFTMAX -> DEQUANTIZE -> float32."""
    rng = np.random.default_rng(7)

    def act(name, shape, scale, zp):
        return Tensor(name, shape, "int8", QuantParams.per_tensor(scale, zp))

    def const(name, data, scales, axis):
        scales = np.asarray(scales)
        q = QuantParams(scales, np.zeros(scales.size, np.int64),
                        axis if scales.size > 1 else None)
        return Tensor(name, data.shape, str(data.dtype), q, data)

    tensors = [
        Tensor("image", (1, 8, 8, 2), "float32"),
        act("q", (1, 8, 8, 2), 0.02, -3),
        const("dw_w", rng.integers(-127, 128, (1, 3, 3, 4)).astype(np.int8),
              [0.01, 0.02, 0.015, 0.03], 3),
        const("dw_b", rng.integers(-500, 500, 4).astype(np.int32),
              0.02 * np.array([0.01, 0.02, 0.015, 0.03]), 0),
        act("dw", (1, 8, 8, 4), 0.05, -128),
        const("conv_w", rng.integers(-127, 128, (4, 1, 1, 4)).astype(np.int8), [0.02], 0),
        act("conv", (1, 8, 8, 4), 0.08, 5),
        act("pool", (1, 4, 4, 4), 0.08, 5),
        act("pool2", (1, 4, 4, 4), 0.08, 5),
        act("sum", (1, 4, 4, 4), 0.1, -10),
        act("avg", (1, 2, 2, 4), 0.1, -10),
        act("flat", (1, 16), 0.1, -10),
        const("fc_w", rng.integers(-127, 128, (5, 16)).astype(np.int8), [0.01], 0),
        act("logits", (1, 5), 0.2, 3),
        act("probs", (1, 5), 1 / 256, -128),
        Tensor("out", (1, 5), "float32"),
    ]
    nodes = [
        Node("QUANTIZE", "quantize", ["image"], ["q"]),
        Node("DEPTHWISE_CONV_2D", "dw", ["q", "dw_w", "dw_b"], ["dw"],
             {"stride": (1, 1), "dilation": (1, 1), "padding": "SAME", "activation": "RELU6",
              "depth_multiplier": 2}),
        Node("CONV_2D", "conv", ["dw", "conv_w", ""], ["conv"],
             {"stride": (1, 1), "dilation": (1, 1), "padding": "VALID", "activation": "NONE"}),
        Node("MAX_POOL_2D", "pool", ["conv"], ["pool"],
             {"filter": (2, 2), "stride": (2, 2), "padding": "VALID", "activation": "NONE"}),
        Node("MAX_POOL_2D", "pool2", ["pool"], ["pool2"],
             {"filter": (3, 3), "stride": (1, 1), "padding": "SAME", "activation": "NONE"}),
        Node("ADD", "skip", ["pool", "pool2"], ["sum"], {"activation": "RELU"}),
        Node("AVERAGE_POOL_2D", "avg", ["sum"], ["avg"],
             {"filter": (2, 2), "stride": (2, 2), "padding": "VALID", "activation": "NONE"}),
        Node("RESHAPE", "flatten", ["avg"], ["flat"]),
        Node("FULLY_CONNECTED", "fc", ["flat", "fc_w"], ["logits"], {"activation": "NONE"}),
        Node("SOFTMAX", "softmax", ["logits"], ["probs"], {"beta": 1.0}),
        Node("DEQUANTIZE", "dequantize", ["probs"], ["out"]),
    ]
    return Graph("chain", {t.name: t for t in tensors}, nodes, ["image"], ["out"]).validate()


def test_every_tensor_of_a_chain_matches_tflm():
    graph = chain_graph()
    batch = np.random.default_rng(0).normal(0, 1.5, (8, 1, 8, 8, 2)).astype(np.float32)
    expected = run_tflm_tensors(write_tflite(graph), batch)
    for index in range(len(batch)):
        got = run_all(graph, [batch[index]])
        assert sorted(got) == sorted(t.name for t in graph.activations())
        for name, value in got.items():
            want = expected[name][index]
            assert value.dtype == want.dtype and value.tobytes() == want.tobytes(), name


def test_run_returns_the_outputs_of_run_all():
    graph = chain_graph()
    x = np.ones((1, 8, 8, 2), np.float32)
    [out] = run(graph, [x])
    assert out.dtype == np.float32 and np.array_equal(out, run_all(graph, x)["out"])
    assert np.array_equal(run(graph, {"image": x})[0], out)


@pytest.mark.parametrize("inputs, message", [
    ([np.ones((1, 8, 8, 2), np.float64)], r"expects float32 \(1, 8, 8, 2\), got float64"),
    ([np.ones((8, 8, 2), np.float32)], r"expects float32 \(1, 8, 8, 2\), got float32 \(8, 8, 2\)"),
    ([], r"has 1 input\(s\) \['image'\], got 0"),
    ({"img": np.ones((1, 8, 8, 2), np.float32)}, r"\['img'\] are not inputs"),
])
def test_bad_inputs_name_the_expected_tensor(inputs, message):
    with pytest.raises(EdgeKDError, match=message):
        run(chain_graph(), inputs)


def test_each_graph_is_prepared_once(monkeypatch):
    calls = []
    spec = registry.OP_SPECS["ADD"]

    def counting_prepare(graph, node):
        calls.append(node.name)
        return spec.prepare(graph, node)

    monkeypatch.setitem(registry.OP_SPECS, "ADD",
                        dataclasses.replace(spec, prepare=counting_prepare))
    graph, x = chain_graph(), np.zeros((1, 8, 8, 2), np.float32)
    run(graph, [x])
    run(graph, [x])
    assert calls == ["skip"]
    run(chain_graph(), [x])  # another graph object: prepared afresh
    assert calls == ["skip", "skip"]


@pytest.mark.parametrize("count", [1, 5, 70])  # 70: over two chunks and a partial one
def test_a_batch_of_samples_gives_exactly_each_samples_tensors(count):
    from edgekd.interpreter import BATCH_CHUNK, run_all_batch
    from edgekd.verify.host import random_inputs
    from tests.codegen.graphs import small_cnn

    assert count > 2 * BATCH_CHUNK or count <= BATCH_CHUNK
    graph = small_cnn(seed=3)
    samples = random_inputs(graph, count, seed=count)
    batched = run_all_batch(graph, samples)
    for i, sample in enumerate(samples):
        alone = run_all(graph, sample)
        assert set(alone) == set(batched)
        for name, value in alone.items():
            assert batched[name][i].dtype == value.dtype
            assert np.array_equal(batched[name][i], value), (name, i)


def test_a_graph_with_an_op_outside_the_batchable_ones_runs_sample_by_sample(monkeypatch):
    from edgekd import interpreter
    from tests.codegen.graphs import small_cnn

    graph = small_cnn(seed=4)
    monkeypatch.setattr(interpreter, "BATCHABLE_OPS", frozenset({"CONV_2D"}))
    stacked = []
    monkeypatch.setattr(interpreter, "_run_stacked",
                        lambda *a: stacked.append(a) or pytest.fail("stacked"))
    samples = np.zeros((3, *graph.tensor(graph.inputs[0]).shape), dtype=np.int8)
    result = interpreter.run_all_batch(graph, samples)
    assert not stacked and result[graph.outputs[0]].shape[0] == 3
