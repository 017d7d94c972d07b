"""QDQ ONNX export (edgekd/frontends/onnx_export.py): the file states the IR's integers
exactly (reading it back gives the same graph) and onnxruntime runs it.

onnxruntime computes a QDQ graph its own way (float between DQ and Q, or QLinear* kernels
with a float requantization scale, rounding halves to even) where the reference computes
TFLite's fixed-point arithmetic, so its outputs are compared with a tolerance: at most
two output codes apart (one rounding per layer can compound over a few layers) and the
same class on >= 99 % of the digits test split.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest

import edgekd
from edgekd.cli import main
from edgekd.frontends import load_model, save_model
from edgekd.frontends.onnx import read_onnx
from edgekd.frontends.onnx_export import write_onnx

from .onnx_models import (
    assert_equivalent, digits, export_torch, quantize_input,
    run_onnxruntime, run_reference, trained_digits_cnn,
)
from .tflite_models import all_ops_graph

CODE_TOLERANCE = 2
ARGMAX_AGREEMENT = 0.99


@pytest.fixture(scope="module")
def digits_graph():
    """The trained DigitsCNN quantized by edgekd's PTQ (int8 input and output)."""
    return edgekd.quantize(trained_digits_cnn(), digits().train.x)


def test_export_then_import_gives_the_same_graph(digits_graph):
    back = read_onnx(write_onnx(digits_graph), source_name="m.onnx")
    assert_equivalent(back, digits_graph)
    assert [n.name for n in back.nodes] == [n.name for n in digits_graph.nodes]


def test_float_io_export_then_import_gives_the_same_graph():
    graph = edgekd.quantize(trained_digits_cnn(), digits().train.x[:200], float_io=True)
    back = read_onnx(write_onnx(graph), source_name="m.onnx", float_io=True)
    assert_equivalent(back, graph)


def test_onnxruntime_agrees_with_the_reference_on_digits(digits_graph):
    x = digits().test.x
    codes = quantize_input(digits_graph, x)
    reference = run_reference(digits_graph, codes)
    onnxruntime = run_onnxruntime(write_onnx(digits_graph), codes.transpose(0, 3, 1, 2))
    assert onnxruntime.dtype == np.int8 and onnxruntime.shape == reference.shape
    difference = np.abs(onnxruntime.astype(int) - reference.astype(int))
    assert difference.max() <= CODE_TOLERANCE
    assert (onnxruntime.argmax(1) == reference.argmax(1)).mean() >= ARGMAX_AGREEMENT
    accuracy = (reference.argmax(1) == digits().test.y).mean()
    assert accuracy > 0.9  # a trained model: agreement is not between two coin tosses


def test_every_op_exports_and_runs_in_onnxruntime():
    """QUANTIZE, conv (SAME, stride 2, RELU6), depthwise (dilated), both pools, ADD, a
    RESHAPE that is not a flatten, FULLY_CONNECTED on 2 rows, SOFTMAX, DEQUANTIZE."""
    graph = all_ops_graph()
    q = graph.tensor("x").quant
    rng = np.random.default_rng(0)
    low, high = (-128 - q.zero_point[0]) * q.scale[0], (127 - q.zero_point[0]) * q.scale[0]
    x = rng.uniform(low, high, (30, *graph.tensor("input").shape[1:])).astype(np.float32)
    reference = run_reference(graph, x)
    onnxruntime = run_onnxruntime(write_onnx(graph), x.transpose(0, 3, 1, 2))
    onnxruntime = onnxruntime.reshape(reference.shape)
    assert np.abs(onnxruntime - reference).max() <= 16 / 256  # probabilities on a 1/256 grid
    assert (onnxruntime.argmax(-1) == reference.argmax(-1)).mean() >= 0.9


def test_mlperf_model_round_trips(mlperf_path):
    graph = load_model(mlperf_path)
    assert_equivalent(read_onnx(write_onnx(graph), source_name="m.onnx"), graph)


def test_written_file_is_valid_onnx_with_int8_weights(digits_graph, tmp_path):
    path = save_model(digits_graph, tmp_path / "m.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    types = {i.name: i.data_type for i in model.graph.initializer}
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    weight_dq = next(n for n in model.graph.node if n.output[0] == conv.input[1])
    bias_dq = next(n for n in model.graph.node if n.output[0] == conv.input[2])
    assert types[weight_dq.input[0]] == onnx.TensorProto.INT8
    assert types[bias_dq.input[0]] == onnx.TensorProto.INT32
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_cli_export_writes_onnx_and_tflite(tmp_path, capsys):
    source = export_torch(trained_digits_cnn(), tmp_path / "float.onnx")
    assert main(["export", str(source), "--calib", "digits", "-o",
                 str(tmp_path / "q.onnx")]) == 0
    assert main(["export", str(tmp_path / "q.onnx"), "-o", str(tmp_path / "q.tflite")]) == 0
    assert f"wrote {tmp_path / 'q.tflite'}" in capsys.readouterr().out
    assert_equivalent(load_model(tmp_path / "q.tflite"), load_model(tmp_path / "q.onnx"))


@pytest.mark.parametrize("argv, message", [
    (["export", "{model}", "-o", "{out}.onnx", "--calib", "digits"],
     "--calib and --float-io apply to .onnx models"),
    (["export", "{model}", "-o", "{out}.pt"], "cannot write '.pt' models; supported: .tflite, "
                                              ".onnx"),
])
def test_cli_export_errors_are_one_line(tmp_path, capsys, argv, message, digits_graph):
    model = save_model(digits_graph, tmp_path / "m.tflite")
    argv = [a.format(model=model, out=tmp_path / "out") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not list(tmp_path.glob("out*"))
