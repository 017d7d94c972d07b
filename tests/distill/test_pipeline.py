"""edgekd.distill_student: the whole run from specs or objects to files on disk."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import edgekd
from edgekd.data import load_dataset
from edgekd.errors import EdgeKDError
from edgekd.zoo import DigitsCNN, digits_student

METRICS_KEYS = {"dataset", "loss", "teacher", "student", "qat", "training", "seconds", "files"}
TRAINING_KEYS = {"first_epoch", "last_epoch", "best_epoch", "best_val_score", "stopped_early",
                 "history", "train_seconds", "world_size", "config"}
HISTORY_KEYS = {"epoch", "train_loss", "val_loss", "val_accuracy", "val_agreement", "lr", "seconds"}


def test_distill_writes_student_metrics_and_checkpoint(tmp_path):
    out = tmp_path / "out"
    lines = []
    metrics = edgekd.distill_student(DigitsCNN(width=4), "edgekd.zoo:digits_student", "digits", out,
                             loss="ced", epochs=2, log=lines.append)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.json", "student.pt"]
    written = json.loads((out / "metrics.json").read_text())
    assert set(written) == METRICS_KEYS
    assert set(written["training"]) == TRAINING_KEYS
    assert set(written["training"]["history"][0]) == HISTORY_KEYS
    assert set(written["student"]) == {"spec", "params", "val_accuracy", "test_accuracy",
                                       "test_agreement", "int8_test_accuracy"}
    assert written["student"]["int8_test_accuracy"] is None
    assert set(written["teacher"]) == {"spec", "params", "test_accuracy"}
    assert written["student"]["params"] == sum(p.numel() for p in digits_student().parameters())
    assert written["teacher"]["params"] == sum(p.numel() for p in DigitsCNN(width=4).parameters())
    assert written["files"] == {"student": "student.pt", "checkpoint": "checkpoint.pt",
                                "tflite": None}
    assert written["training"]["config"]["max_shift"] == 1  # digits get shifted by default
    assert metrics["student"] == written["student"]
    assert lines[0].startswith("distill: teacher DigitsCNN")
    assert lines[-1].startswith("best epoch")

    # the saved weights, loaded on their own, score what metrics.json says
    student = digits_student()
    student.load_state_dict(torch.load(out / "student.pt", weights_only=True))
    test = load_dataset("digits").test
    with torch.no_grad():
        predicted = student.eval()(torch.from_numpy(test.x)).argmax(1).numpy()
    assert np.mean(predicted == test.y) == written["student"]["test_accuracy"]


def test_distill_without_out_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metrics = edgekd.distill_student(None, digits_student(), "digits", loss="ce", epochs=1, log=None)
    assert metrics["teacher"] is None and metrics["files"]["checkpoint"] is None
    assert list(tmp_path.iterdir()) == []


def test_distill_rejects_unknown_options():
    with pytest.raises(EdgeKDError, match="unknown option\\(s\\) epoch"):
        edgekd.distill_student(None, digits_student(), "digits", loss="ce", epoch=3)


def test_distill_without_teacher_needs_loss_ce():
    with pytest.raises(EdgeKDError, match="loss ced: needs a teacher"):
        edgekd.distill_student(None, digits_student(), "digits", epochs=1)


def test_import_edgekd_stays_torch_free():
    code = ("import sys, edgekd; assert 'torch' not in sys.modules; "
            "import edgekd.distill.losses as losses; assert edgekd.distill.losses is losses")
    subprocess.run([sys.executable, "-c", code], check=True)
