"""edgekd/quant/pipeline.py and `edgekd quantize`: files in, a .tflite out, errors as one line."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekd.cli import main
from edgekd.data import load_dataset
from edgekd.frontends.tflite import read_tflite
from edgekd.zoo import digits_student


@pytest.fixture
def student_weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "student.pt"
    torch.save(digits_student().state_dict(), path)
    return path


def test_minmax_writes_a_model_and_prints_accuracies(tmp_path, student_weights, capsys):
    out = tmp_path / "models" / "student.tflite"
    status = main(["quantize", "--model", "edgekd.zoo:digits_student", "--weights",
                   str(student_weights), "--data", "digits", "-o", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "test accuracy (269 samples): float" in printed and "int8" in printed
    assert f"wrote {out}" in printed
    graph = read_tflite(out)
    assert graph.tensor(graph.inputs[0]).dtype == "int8"
    assert sorted(p.name for p in out.parent.iterdir()) == ["student.tflite"]  # no temp files


def test_qat_shows_progress_and_float_io(tmp_path, student_weights, capsys):
    digits = load_dataset("digits").train
    data = tmp_path / "few.npz"  # a small labelled .npz keeps the training short
    np.savez(data, x=digits.x[:160], y=digits.y[:160])
    out = tmp_path / "qat.tflite"
    assert main(["quantize", "--model", "edgekd.zoo:digits_student", "--weights",
                 str(student_weights), "--data", str(data), "--method", "qat", "--epochs", "1",
                 "--float-io", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "qat epoch 1/1: loss" in printed and "val accuracy" in printed
    graph = read_tflite(out)
    assert [graph.nodes[0].op, graph.nodes[-1].op] == ["QUANTIZE", "DEQUANTIZE"]


def test_qat_without_labels_is_refused(tmp_path, student_weights, capsys):
    data = tmp_path / "unlabelled.npz"
    np.savez(data, x=np.random.default_rng(0).random((40, 1, 8, 8), dtype=np.float32))
    status = main(["quantize", "--model", "edgekd.zoo:digits_student", "--weights",
                   str(student_weights), "--data", str(data), "--method", "qat",
                   "-o", str(tmp_path / "m.tflite")])
    assert status == 2
    assert "needs labels" in capsys.readouterr().err
    assert not (tmp_path / "m.tflite").exists()


class NotAStateDict:
    """A pickled object that weights_only loading must refuse."""


def test_checkpoint_needing_arbitrary_pickle_is_refused(tmp_path, capsys):
    weights = tmp_path / "pickled.pt"
    torch.save({"model": NotAStateDict()}, weights)
    status = main(["quantize", "--model", "edgekd.zoo:digits_student", "--weights",
                   str(weights), "--data", "digits", "-o", str(tmp_path / "m.tflite")])
    assert status == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "weights_only=True" in error and str(weights) in error
