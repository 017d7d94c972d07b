"""edgekd/verify/tflm.py: the TFLM oracle wrapper (batches, all tensors, arena size)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgekd.errors import EdgeKDError, ModelFormatError
from edgekd.frontends.tflite import read_tflite, tensor_names, write_tflite
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.verify.tflm import run_tflm, run_tflm_tensors, tflm_arena_bytes

pytest.importorskip("tflite_micro")


def _max_pool_graph() -> Graph:
    """MAX_POOL_2D, filter 2x3 stride 2x3 over [1, 4, 6, 2]: non-square on purpose."""
    q = QuantParams.per_tensor(0.1, -3)
    tensors = [Tensor("x", (1, 4, 6, 2), "int8", q), Tensor("y", (1, 2, 2, 2), "int8", q)]
    attrs = {"filter": (2, 3), "stride": (2, 3), "padding": "VALID", "activation": "NONE"}
    node = Node("MAX_POOL_2D", "y", ["x"], ["y"], attrs)
    return Graph("max_pool", {t.name: t for t in tensors}, [node], ["x"], ["y"]).validate()


def _two_input_add_graph() -> Graph:
    tensors = [Tensor("a", (1, 3), "int8", QuantParams.per_tensor(0.1, 0)),
               Tensor("b", (1, 3), "int8", QuantParams.per_tensor(0.2, 5)),
               Tensor("sum", (1, 3), "int8", QuantParams.per_tensor(0.3, -1))]
    node = Node("ADD", "sum", ["a", "b"], ["sum"], {"activation": "NONE"})
    return Graph("add", {t.name: t for t in tensors}, [node], ["a", "b"], ["sum"]).validate()


def _int8(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, shape, dtype=np.int8)


def test_max_pool_matches_numpy_windows():
    """Independent of edgekd's reference: the max over each 2x3 window, by reshaping."""
    x = _int8((5, 1, 4, 6, 2))
    want = x.reshape(5, 1, 2, 2, 2, 3, 2).max(axis=(3, 5))
    (got,) = run_tflm(write_tflite(_max_pool_graph()), x)
    assert got.dtype == np.int8 and got.shape == (5, 1, 2, 2, 2)
    assert got.tobytes() == want.tobytes()


def test_batch_equals_one_interpreter_per_sample(mlperf_path):
    graph = read_tflite(mlperf_path)
    x = _int8((6, *graph.tensor(graph.inputs[0]).shape), seed=1)
    (batched,) = run_tflm(mlperf_path, [x])
    singles = [run_tflm(mlperf_path, x[n:n + 1])[0][0] for n in range(len(x))]
    assert batched.tobytes() == np.stack(singles).tobytes()


def test_all_tensors_are_keyed_by_ir_name(mlperf_path):
    data = mlperf_path.read_bytes()
    graph = read_tflite(data)
    x = _int8((2, *graph.tensor(graph.inputs[0]).shape), seed=2)
    tensors = run_tflm_tensors(data, x)
    assert list(tensors) == tensor_names(data)
    assert tensors[graph.inputs[0]].tobytes() == x.tobytes()
    assert tensors[graph.outputs[0]].tobytes() == run_tflm(data, x)[0].tobytes()
    for t in graph.tensors.values():
        assert tensors[t.name].shape == (2, *t.shape), t.name
        if t.is_constant:
            assert tensors[t.name][1].tobytes() == t.data.tobytes(), t.name
    # intermediates survive the invoke (kPreserveAllTensors): not all zero, not all equal
    middle = tensors[graph.nodes[len(graph.nodes) // 2].outputs[0]]
    assert len(np.unique(middle)) > 1


def test_inputs_map_to_the_model_inputs_in_order():
    a, b = _int8((3, 1, 3), seed=3), _int8((3, 1, 3), seed=4)
    tensors = run_tflm_tensors(write_tflite(_two_input_add_graph()), [a, b])
    assert tensors["a"].tobytes() == a.tobytes() and tensors["b"].tobytes() == b.tobytes()
    real = 0.1 * a.astype(float) + 0.2 * (b.astype(float) - 5)
    assert np.abs(0.3 * (tensors["sum"].astype(float) + 1) - real).max() <= 0.15 + 1e-9


def test_arena_bytes(mlperf_path, capfd):
    graph = read_tflite(mlperf_path)
    arena = tflm_arena_bytes(mlperf_path)
    # At least the largest layer's input and output must be live together.
    live = max(sum(t.nbytes for t in (*graph.node_inputs(n), *graph.node_outputs(n))
                   if t is not None and not t.is_constant) for n in graph.nodes)
    assert live <= arena <= 4 * live + 32 * 1024
    assert "RecordingMicroAllocator" not in capfd.readouterr().err  # captured, not leaked


def test_arena_grows_for_models_larger_than_the_first_guess():
    q = QuantParams.per_tensor(0.1, 0)
    shape = (1, 128, 128, 8)  # 128 KiB per activation: more than the first 64 KiB arena
    tensors = [Tensor("x", shape, "int8", q), Tensor("y", shape, "int8", q)]
    attrs = {"filter": (1, 1), "stride": (1, 1), "padding": "VALID", "activation": "NONE"}
    graph = Graph("big", {t.name: t for t in tensors},
                  [Node("MAX_POOL_2D", "y", ["x"], ["y"], attrs)], ["x"], ["y"]).validate()
    data = write_tflite(graph)
    assert tflm_arena_bytes(data) >= 2 * 128 * 128 * 8
    x = _int8((1, *shape))
    assert run_tflm(data, x)[0].tobytes() == x.tobytes()


def test_wrong_inputs_name_the_expected_shape_and_dtype():
    data = write_tflite(_max_pool_graph())
    with pytest.raises(EdgeKDError, match=r"input 0 must be int8 \[N, 1, 4, 6, 2\], got "
                                          r"float32 \[2, 1, 4, 6, 2\]"):
        run_tflm(data, np.zeros((2, 1, 4, 6, 2), np.float32))
    with pytest.raises(EdgeKDError, match=r"got int8 \[1, 4, 6, 2\]"):
        run_tflm(data, np.zeros((1, 4, 6, 2), np.int8))
    with pytest.raises(EdgeKDError, match="the model has 2 input"):
        run_tflm(write_tflite(_two_input_add_graph()), [_int8((1, 1, 3))])
    with pytest.raises(EdgeKDError, match="different batch sizes"):
        run_tflm(write_tflite(_two_input_add_graph()), [_int8((1, 1, 3)), _int8((2, 1, 3))])


def test_bad_models_are_errors(tmp_path):
    with pytest.raises(EdgeKDError, match="no such file"):
        run_tflm(tmp_path / "absent.tflite", _int8((1, 1)))
    with pytest.raises(ModelFormatError):
        run_tflm(b"\x00" * 100, _int8((1, 1)))
    with pytest.raises(ModelFormatError):
        tflm_arena_bytes(write_tflite(_max_pool_graph())[:200])


def test_importing_the_module_does_not_import_tflite_micro():
    code = "import sys, edgekd.verify.tflm; sys.exit('tflite_micro' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
