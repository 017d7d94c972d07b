"""Imported ONNX models end to end: a float model (torch export, quantized by edgekd's PTQ)
and a QDQ model (onnxruntime's quantize_static) compile to C that computes every tensor the
reference computes, byte for byte, on the host and on an emulated Cortex-M4 (mps2-an386)."""
from __future__ import annotations

import json
import warnings

import pytest

from edgekd.cli import main
from edgekd.frontends.onnx import OnnxSemanticsWarning, read_onnx
from edgekd.verify.boards import load_board
from edgekd.verify.host import verify_host
from edgekd.verify.target import verify_target

from .onnx_models import (
    digits, export_torch, quantize_input, quantize_with_onnxruntime, trained_digits_cnn,
)

BOARD = "mps2-an386"


@pytest.fixture(scope="module")
def float_model(tmp_path_factory):
    return export_torch(trained_digits_cnn(), tmp_path_factory.mktemp("onnx") / "digits.onnx")


@pytest.fixture(scope="module")
def qdq_model(float_model):
    return quantize_with_onnxruntime(float_model, float_model.with_name("digits_qdq.onnx"))


def read(path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OnnxSemanticsWarning)
        return read_onnx(path, **options)


@pytest.fixture(params=["float", "qdq"])
def graph(request, float_model, qdq_model):
    if request.param == "float":
        return read(float_model, calib=digits().train.x)
    return read(qdq_model)


def test_imported_model_is_bit_exact_on_the_host(graph):
    random = verify_host(graph, inputs=50, seed=3)
    assert random.bit_exact, random.summary()
    samples = quantize_input(graph, digits().test.x[:100])[:, None]  # [N, 1, 8, 8, 1]
    test_split = verify_host(graph, inputs=samples)
    assert test_split.bit_exact and test_split.inputs == 100, test_split.summary()


@pytest.mark.slow
def test_imported_model_is_bit_exact_on_a_cortex_m4(graph, tmp_path):
    board = load_board(BOARD)
    if board.missing_tools():
        pytest.skip(f"{BOARD}: {', '.join(board.missing_tools())} not installed")
    samples = quantize_input(graph, digits().test.x[:10])[:, None]
    result = verify_target(graph, board, inputs=samples, workdir=tmp_path, progress=None)
    assert result.bit_exact, result.summary()


def test_cli_compile_and_verify_take_calib(float_model, tmp_path, capsys):
    assert main(["compile", str(float_model), "--calib", "digits", "-o",
                 str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "digits.h").is_file()
    assert main(["verify", str(float_model), "--calib", "digits", "--method", "mse",
                 "--inputs", "20", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["bit_exact"] and result["inputs"] == 20 and result["model"] == "digits"


def test_cli_without_calib_says_it_is_needed(float_model, capsys):
    assert main(["compile", str(float_model), "-o", "unused"]) == 2
    assert "a float model: int8 quantization needs calibration data (--calib DATA" in \
        capsys.readouterr().err


@pytest.mark.slow
def test_cli_verify_target_takes_calib(float_model, capsys):
    if load_board(BOARD).missing_tools():
        pytest.skip(f"{BOARD}: tools not installed")
    assert main(["verify", str(float_model), "--calib", "digits", "--target", BOARD,
                 "--inputs", "3"]) == 0
    assert f"on {BOARD}: bit-exact on 3 inputs" in capsys.readouterr().out
