"""`edgekd distill`: files, metrics keys, and one-line errors for bad input."""
from __future__ import annotations

import json
import warnings

import pytest
import torch

from edgekd.cli import main
from edgekd.zoo import DigitsCNN

STUDENT = ["--student", "edgekd.zoo:digits_student", "--data", "digits"]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("teacher, message", [
    ("nonexistent_pkg.mod:factory", "nonexistent_pkg.mod:factory: cannot import nonexistent_pkg"),
    ("edgekd.zoo:missing", "edgekd.zoo:missing: edgekd.zoo has no attribute 'missing'"),
    ("teacher.pt", "teacher 'teacher.pt': expected pkg.module:factory or a path to an .onnx file"),
    ("gone.onnx", "gone.onnx: no such file"),
])
def test_bad_teacher_spec_is_one_line_error(tmp_path, capsys, teacher, message):
    status, out, err = run_cli(["distill", "--teacher", teacher, *STUDENT, "--epochs", "1",
                                "-o", str(tmp_path / "out")], capsys)
    assert status == 2
    assert err == f"edgekd: error: {message}\n" or (err.startswith(f"edgekd: error: {message}")
                                                     and err.count("\n") == 1)
    assert not (tmp_path / "out").exists()


def test_missing_teacher_weights_and_bad_hint_are_one_line_errors(tmp_path, capsys):
    status, _, err = run_cli(["distill", "--teacher", "edgekd.zoo:digits_teacher",
                              "--teacher-weights", str(tmp_path / "w.pt"), *STUDENT,
                              "-o", str(tmp_path / "out")], capsys)
    assert status == 2 and "w.pt: no such file (teacher weights)" in err and err.count("\n") == 1
    status, _, err = run_cli(["distill", "--teacher", "edgekd.zoo:digits_teacher", *STUDENT,
                              "--loss", "hint", "--hint", "features.2", "-o", str(tmp_path / "o")],
                             capsys)
    assert status == 2 and "expected teacher_layer:student_layer" in err and err.count("\n") == 1
    status, _, err = run_cli(["distill", "--teacher", "edgekd.zoo:digits_teacher", *STUDENT,
                              "--loss", "hint", "--hint", "features.2:nope", "--epochs", "1",
                              "-o", str(tmp_path / "o")], capsys)
    assert status == 2 and "student: no layer named 'nope'" in err and err.count("\n") == 1


@pytest.mark.slow
def test_cli_writes_metrics_with_the_documented_keys(tmp_path, capsys):
    weights = tmp_path / "teacher.pt"
    torch.save(DigitsCNN(width=32).state_dict(), weights)
    out = tmp_path / "out"
    status, stdout, _ = run_cli(["distill", "--teacher", "edgekd.zoo:digits_teacher",
                                 "--teacher-weights", str(weights), *STUDENT, "--loss", "hint",
                                 "--hint", "features.2:features.2", "--temperature", "3",
                                 "--alpha", "0.7", "--epochs", "2", "-o", str(out)], capsys)
    assert status == 0
    epochs = [line.split()[1] for line in stdout.splitlines() if line.startswith("epoch")]
    assert epochs == ["1/2", "2/2"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"dataset", "loss", "teacher", "student", "qat", "training",
                            "seconds", "files"}
    assert metrics["loss"] == {"kind": "hint", "temperature": 3.0, "alpha": 0.7,
                               "hint_weight": 1.0, "hints": ["features.2:features.2"]}
    assert metrics["teacher"]["spec"] == "edgekd.zoo:digits_teacher"
    assert metrics["student"]["spec"] == "edgekd.zoo:digits_student"
    assert 0.0 <= metrics["student"]["test_accuracy"] <= 1.0
    assert [r["epoch"] for r in metrics["training"]["history"]] == [1, 2]
    assert metrics["qat"] is False and metrics["dataset"] == "digits"
    assert (out / "student.pt").is_file() and (out / "checkpoint.pt").is_file()


def test_cli_distills_from_an_onnx_teacher(tmp_path, capsys):
    path = tmp_path / "teacher.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(DigitsCNN(width=8).eval(), (torch.zeros(1, 1, 8, 8),), str(path),
                          dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}})
    status, _, err = run_cli(["distill", "--teacher", str(path), *STUDENT, "--loss", "soft",
                              "--epochs", "1", "-o", str(tmp_path / "out")], capsys)
    assert status == 0, err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["teacher"]["spec"] == str(path)
    assert metrics["training"]["history"][0]["val_agreement"] is not None


@pytest.mark.slow
def test_cli_qat_writes_an_int8_tflite_whose_tflm_accuracy_is_reported(tmp_path, capsys):
    """KD + QAT: the int8 accuracy in metrics.json (the numpy integer reference) is what
    TFLM itself computes on model.tflite."""
    pytest.importorskip("tflite_micro")
    from edgekd.data import load_dataset
    from edgekd.frontends.tflite import read_tflite
    from edgekd.quant.evaluate import quantize_inputs
    from edgekd.verify.tflm import run_tflm

    out = tmp_path / "out"
    status, _, err = run_cli(["distill", "--teacher", "edgekd.zoo:digits_teacher", *STUDENT,
                              "--qat", "--epochs", "2", "-o", str(out)], capsys)
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.json",
                                                     "model.tflite", "student.pt"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["qat"] is True and metrics["files"]["tflite"] == "model.tflite"
    test = load_dataset("digits").test
    graph = read_tflite(out / "model.tflite")
    scores = run_tflm(out / "model.tflite", quantize_inputs(graph, test.x)[:, None])[0]
    tflm_accuracy = float((scores.reshape(len(test), -1).argmax(1) == test.y).mean())
    assert metrics["student"]["int8_test_accuracy"] == tflm_accuracy
