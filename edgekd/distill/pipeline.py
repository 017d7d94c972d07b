"""``distill``: teacher + student + data in, a trained student and its metrics out.

Writes into ``out_dir`` (rank 0 only; final files go through a temporary folder and are
renamed into place at the end, the checkpoint is rewritten atomically after every epoch):

- ``student.pt``     the trained student's state dict (with ``qat=True``: of the QuantModel
                     that ``edgekd.prepare_qat(student, x)`` makes)
- ``model.tflite``   with ``qat=True``: the int8 model converted from the QAT student, with
                     exactly the integers it trained with
- ``checkpoint.pt``  the last epoch's training checkpoint (pass it as ``resume=``)
- ``metrics.json``   with the keys
    ``dataset``  the dataset's name
    ``loss``     ``{kind, temperature, alpha, hint_weight, hints}``
    ``teacher``  ``{spec, params, test_accuracy}`` (null when trained without a teacher)
    ``student``  ``{spec, params, val_accuracy, test_accuracy, test_agreement,
                 int8_test_accuracy}`` (the last: model.tflite run by the integer
                 reference, null without qat)
    ``qat``      whether the student was trained quantization-aware
    ``training`` ``{first_epoch, last_epoch, best_epoch, best_val_score, stopped_early,
                 history: [{epoch, train_loss, val_loss, val_accuracy, val_agreement, lr,
                 seconds}], train_seconds, world_size, config: {epochs, batch_size,
                 optimizer, lr, weight_decay, patience, max_shift, seed}}``
    ``seconds``  wall time of the whole call
    ``files``    ``{student, checkpoint, tflite}`` names inside out_dir (tflite may be null)
Accuracies are fractions in [0, 1], or null when the split has no labels.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgekd.data import Dataset, Split, load_dataset
from edgekd.distill.distributed import join_process_group
from edgekd.distill.losses import NEEDS_TEACHER, LossSpec
from edgekd.distill.teachers import Teacher, load_teacher
from edgekd.distill.trainer import TrainConfig, evaluate, seed_everything, train_student
from edgekd.errors import EdgeKDError
from edgekd.ir import Graph
from edgekd.zoo import check_inputs_fit, load_module

DIGITS_MAX_SHIFT = 1  # pixels: an 8x8 digit moved by more loses strokes at the border


def distill(teacher: str | nn.Module | Teacher | None, student: str | nn.Module,
            data: str | Dataset, out_dir: str | Path | None = None, *,
            loss: str = "ced", temperature: float = 4.0, alpha: float = 0.9,
            hints: list[tuple[str, str]] | None = None, hint_weight: float = 1.0,
            teacher_weights: str | Path | None = None, student_weights: str | Path | None = None,
            qat: bool = False, max_shift: int | None = None, **train_options) -> dict:
    """Distill ``student`` from ``teacher`` on ``data``; returns the metrics of metrics.json.

    ``teacher``: a `pkg.module:factory` (with ``teacher_weights``), an .onnx path, a torch
    module, or None for ``loss="ce"``. ``student``: a `pkg.module:factory` (with optional
    ``student_weights`` to start from) or a module, trained in place. ``data``: anything
    ``load_dataset`` takes, or a Dataset. ``max_shift``: augmentation shift in pixels
    (default 1 for the built-in digits, 0 otherwise). ``train_options``: TrainConfig fields
    (epochs, batch_size, optimizer, lr, weight_decay, patience, seed, resume, device, log).
    """
    started = time.perf_counter()
    unknown = set(train_options) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise EdgeKDError(f"distill: unknown option(s) {', '.join(sorted(unknown))}")
    spec = LossSpec(loss, temperature, alpha, hint_weight)
    if teacher is None and spec.kind in NEEDS_TEACHER:
        raise EdgeKDError(f"loss {spec.kind}: needs a teacher (--teacher)")
    frozen_teacher = None if teacher is None else load_teacher(teacher, teacher_weights)
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    if max_shift is None:
        max_shift = DIGITS_MAX_SHIFT if dataset.name == "digits" else 0
    out_dir = None if out_dir is None else Path(out_dir)
    if out_dir is not None and "checkpoint" not in train_options:
        train_options["checkpoint"] = out_dir / "checkpoint.pt"
    config = TrainConfig(max_shift=max_shift, **train_options)

    seed_everything(config.seed)  # the student's initial weights are part of the run
    module = student if isinstance(student, nn.Module) else load_module(str(student),
                                                                         student_weights, "student")
    student_params = sum(p.numel() for p in module.parameters())
    check_inputs_fit(module, dataset.train.x, dataset.name, "student")

    context = join_process_group(config.device)  # held until the outputs are written
    try:
        if qat:
            module = _prepare_qat(module, dataset.train, config, context.world_size)
        log = config.log if context.is_main else None
        if log:
            log(_summary_line(frozen_teacher, student, student_params, spec, hints, dataset,
                              context.world_size))
        training = train_student(module, dataset, spec, frozen_teacher, hints, config)
        scores = evaluate(module, dataset.test, frozen_teacher)
        int8_graph = _convert(module) if qat and context.is_main else None
        metrics = {
            "dataset": dataset.name,
            "loss": {"kind": spec.kind, "temperature": spec.temperature, "alpha": spec.alpha,
                     "hint_weight": spec.hint_weight,
                     "hints": [f"{t}:{s}" for t, s in hints or []]},
            "teacher": None if frozen_teacher is None else {
                "spec": frozen_teacher.name, "params": frozen_teacher.parameter_count,
                "test_accuracy": teacher_accuracy(frozen_teacher, dataset.test)},
            "student": {"spec": student if isinstance(student, str) else type(student).__name__,
                        "params": student_params,
                        "val_accuracy": _best_val_accuracy(training),
                        "test_accuracy": scores["accuracy"],
                        "test_agreement": scores["agreement"],
                        "int8_test_accuracy": _int8_accuracy(int8_graph, dataset.test)},
            "qat": qat,
            "training": {**training, "config": _config_record(config)},
            "files": {"student": "student.pt",
                      "checkpoint": None if config.checkpoint is None else config.checkpoint.name,
                      "tflite": "model.tflite" if qat else None},
        }
        if out_dir is not None and context.is_main:
            _write_outputs(out_dir, module, int8_graph, metrics, started)
        metrics["seconds"] = time.perf_counter() - started
        if log:
            log(_result_line(metrics, out_dir))
        return metrics
    finally:
        context.leave()


def teacher_accuracy(teacher: Teacher, split: Split, batch_size: int = 256) -> float | None:
    """The teacher's top-1 accuracy on ``split`` (None without labels)."""
    if split.y is None:
        return None
    correct = 0
    for start in range(0, len(split), batch_size):
        logits = teacher(torch.from_numpy(split.x[start:start + batch_size]))
        correct += int((logits.argmax(1).cpu().numpy() == split.y[start:start + batch_size]).sum())
    return correct / len(split)


def _prepare_qat(module: nn.Module, train: Split, config: TrainConfig,
                 world_size: int) -> nn.Module:
    """The student as edgekd's quantizer trains it: every forward pass computes the int8
    integer path. Activation ranges start from a min-max pass over the training inputs and
    freeze halfway through training, so the last epochs train against fixed grids."""
    from edgekd.quant import prepare_qat
    from edgekd.quant.qat import freeze_ranges_after

    qat_module = prepare_qat(module, torch.from_numpy(train.x[:2]), calib_data=train.x)
    # the same arithmetic as DistributedSampler + DataLoader (no dropped samples)
    steps_per_epoch = math.ceil(math.ceil(len(train) / world_size) / config.batch_size)
    freeze_ranges_after(qat_module, config.epochs * steps_per_epoch // 2)
    return qat_module


def _convert(qat_module: nn.Module) -> Graph:
    """The int8 graph with exactly the integers the QAT student trained with."""
    from edgekd.quant import convert

    return convert(qat_module)


def _int8_accuracy(graph: Graph | None, split: Split) -> float | None:
    """Accuracy of the int8 graph run by the numpy integer reference (the semantics the
    generated C and TFLM share); None without a graph or labels."""
    if graph is None or split.y is None:
        return None
    from edgekd.quant.evaluate import int8_accuracy

    return int8_accuracy(graph, split.x, split.y)


def _write_outputs(out_dir: Path, module: nn.Module, int8_graph: Graph | None, metrics: dict,
                   started: float) -> None:
    """Everything into a temporary folder first, then renamed into out_dir file by file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".edgekd-distill-", dir=out_dir))
    try:
        torch.save(module.state_dict(), staging / "student.pt")
        if int8_graph is not None:
            from edgekd.frontends.tflite import save_tflite

            save_tflite(int8_graph, staging / "model.tflite")
        metrics["seconds"] = time.perf_counter() - started
        text = json.dumps(metrics, indent=2, default=_json_default)
        (staging / "metrics.json").write_text(text + "\n")
        for item in staging.iterdir():
            os.replace(item, out_dir / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _best_val_accuracy(training: dict) -> float | None:
    for record in training["history"]:
        if record["epoch"] == training["best_epoch"]:
            return record["val_accuracy"]
    return None


def _config_record(config: TrainConfig) -> dict:
    record = asdict(config)
    return {key: record[key] for key in ("epochs", "batch_size", "optimizer", "lr",
                                         "weight_decay", "patience", "max_shift", "seed")}


def _summary_line(teacher: Teacher | None, student, student_params: int, spec: LossSpec,
                  hints, dataset: Dataset, world_size: int) -> str:
    name = student if isinstance(student, str) else type(student).__name__
    teacher_part = ("no teacher" if teacher is None
                    else f"teacher {teacher.name} ({teacher.parameter_count:,} params)")
    loss_part = f"loss {spec.kind}"
    if spec.kind in ("soft", "ced", "hint"):
        loss_part += f" T={spec.temperature:g}"
    if spec.kind in ("ced", "hint"):
        loss_part += f" alpha={spec.alpha:g}"
    if hints:
        loss_part += " hints " + ", ".join(f"{t}:{s}" for t, s in hints)
    return (f"distill: {teacher_part} -> student {name} ({student_params:,} params); {loss_part}; "
            f"{dataset.name}: {len(dataset.train)} train / {len(dataset.val)} val / "
            f"{len(dataset.test)} test; {world_size} process(es)")


def _fraction(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _result_line(metrics: dict, out_dir: Path | None) -> str:
    line = (f"best epoch {metrics['training']['best_epoch']}: student test accuracy "
            f"{_fraction(metrics['student']['test_accuracy'])}")
    if metrics["teacher"] is not None:
        line += f" (teacher {_fraction(metrics['teacher']['test_accuracy'])})"
    line += f"; {metrics['seconds']:.1f} s"
    if out_dir is not None:
        line += f"; wrote {out_dir}"
    return line
