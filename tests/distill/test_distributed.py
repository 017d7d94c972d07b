"""Distillation under `torchrun --nproc_per_node=2` (gloo on CPU): the loss falls, rank 0
alone logs and writes exactly one checkpoint, and --resume continues from the next epoch."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from edgekd.data import load_dataset
from edgekd.distill.losses import LossSpec
from edgekd.distill.trainer import TrainConfig, seed_everything, train_student
from edgekd.zoo import digits_teacher

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_distill(out, teacher_weights, epochs: int, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={free_port()}",
               "-m", "edgekd.cli", "distill",
               "--teacher", "edgekd.zoo:digits_teacher", "--teacher-weights", str(teacher_weights),
               "--student", "edgekd.zoo:digits_student", "--data", "digits",
               "--lr", "0.01", "--epochs", str(epochs), "-o", str(out), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def epoch_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("epoch ")]


def test_torchrun_two_processes_train_checkpoint_and_resume(tmp_path):
    seed_everything(0)
    teacher = digits_teacher()
    train_student(teacher, load_dataset("digits"), LossSpec("ce"),
                  config=TrainConfig(epochs=5, log=None))
    weights = tmp_path / "teacher.pt"
    torch.save(teacher.state_dict(), weights)
    out = tmp_path / "out"

    first = torchrun_distill(out, weights, 2)
    assert [line.split()[1] for line in epoch_lines(first.stdout)] == ["1/2", "2/2"]  # rank 0 only
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.json", "student.pt"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["world_size"] == 2
    history = metrics["training"]["history"]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 2 and checkpoint["world_size"] == 2
    assert len(checkpoint["rng"]) == 2  # every rank's generators
    assert not torch.equal(checkpoint["rng"][0]["augment"], checkpoint["rng"][1]["augment"])

    second = torchrun_distill(out, weights, 4, "--resume", str(out / "checkpoint.pt"))
    assert f"resumed from {out / 'checkpoint.pt'} after epoch 2" in second.stdout
    assert [line.split()[1] for line in epoch_lines(second.stdout)] == ["3/4", "4/4"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["first_epoch"] == 3
    losses = [r["train_loss"] for r in metrics["training"]["history"]]
    assert len(losses) == 4 and losses[3] < losses[0]
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 4
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.json", "student.pt"]
