"""Reading a run directory (docs/rundir.md): the models compared, the deployed int8 model,
its generated C and what verification measured.

``load_run`` accepts what ``edgekd demo`` writes (``run.json``) and what ``edgekd distill``
writes (``metrics.json``, with ``model.tflite`` after ``--qat``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edgekd.errors import EdgeKDError

RUN_FORMAT = "edgekd-run-1"
RUN_JSON = "run.json"
METRICS_JSON = "metrics.json"
VERIFY_JSON = "verify.json"
MODEL_TFLITE = "model.tflite"
C_DIR = "c"
RUNS_DIR = "runs"
REPORT_MD = "report.md"
PLOTS_DIR = "plots"
FLOAT32_BYTES = 4  # a float32 parameter's storage


@dataclass
class Run:
    """What a run directory holds, normalized: ``models`` are run.json model records."""

    directory: Path
    dataset: dict
    models: list[dict]
    deployed: str | None  # key of the model in model.tflite
    target_pp: float | None = None
    tflite: Path | None = None
    c_dir: Path | None = None
    verify: dict | None = None
    config: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)
    seconds: float | None = None

    def model(self, key: str | None) -> dict | None:
        return next((m for m in self.models if m["key"] == key), None)

    @property
    def teacher(self) -> dict | None:
        return next((m for m in self.models if m["role"] == "teacher"), None)


def read_json(path: Path) -> dict:
    """A JSON object from ``path``, or an EdgeKDError naming the file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise EdgeKDError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EdgeKDError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(data, dict):
        raise EdgeKDError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def load_run(directory: str | Path) -> Run:
    """The run in ``directory``: from run.json when there is one, else from the
    metrics.json of an ``edgekd distill`` output folder."""
    directory = Path(directory)
    if not directory.is_dir():
        raise EdgeKDError(f"{directory}: no such directory")
    if (directory / RUN_JSON).is_file():
        run = _from_run_json(directory, read_json(directory / RUN_JSON))
    elif (directory / METRICS_JSON).is_file():
        run = _from_metrics(directory, read_json(directory / METRICS_JSON))
    else:
        raise EdgeKDError(f"{directory}: not a run directory (no {RUN_JSON} or {METRICS_JSON}; "
                          "see docs/rundir.md)")
    tflite = directory / MODEL_TFLITE
    run.tflite = tflite if tflite.is_file() else None
    c_dir = directory / C_DIR
    run.c_dir = c_dir if c_dir.is_dir() else None
    if (directory / VERIFY_JSON).is_file():
        run.verify = read_json(directory / VERIFY_JSON)
    return run


def _from_run_json(directory: Path, data: dict) -> Run:
    path = directory / RUN_JSON
    if data.get("format") != RUN_FORMAT:
        raise EdgeKDError(f"{path}: format {data.get('format')!r}, expected {RUN_FORMAT!r}")
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise EdgeKDError(f"{path}: 'models' must be a non-empty list")
    for index, model in enumerate(models):
        missing = [k for k in ("key", "label", "role", "precision", "params", "test_accuracy")
                   if not isinstance(model, dict) or k not in model]
        if missing:
            raise EdgeKDError(f"{path}: models[{index}] lacks {', '.join(missing)}")
    return Run(directory=directory, dataset=data.get("dataset") or {}, models=models,
               deployed=data.get("deployed"), target_pp=data.get("target_pp"),
               config=data.get("config") or {}, stages=data.get("stages") or {},
               seconds=data.get("seconds"))


def _from_metrics(directory: Path, metrics: dict) -> Run:
    """An ``edgekd distill`` folder: its teacher (if any) and its student."""
    path = directory / METRICS_JSON
    student = metrics.get("student")
    if not isinstance(student, dict) or "params" not in student:
        raise EdgeKDError(f"{path}: not edgekd distill metrics (no 'student' record)")
    models = []
    teacher = metrics.get("teacher")
    if isinstance(teacher, dict):
        models.append({"key": "teacher", "label": "teacher", "role": "teacher",
                       "method": "given", "precision": "float32", "teacher": False,
                       "params": teacher.get("params"),
                       "weight_bytes": _float_bytes(teacher.get("params")),
                       "test_accuracy": teacher.get("test_accuracy"), "tflite": None,
                       "board": None})
    loss = (metrics.get("loss") or {}).get("kind", "ce")
    with_teacher = loss != "ce"
    method = ("KD (" + loss + ")") if with_teacher else "CE"
    qat = bool(metrics.get("qat"))
    if qat:
        method = "QAT+" + method if with_teacher else "QAT"
        accuracy = student.get("int8_test_accuracy", student.get("test_accuracy"))
    else:
        accuracy = student.get("test_accuracy")
    key = "student"
    models.append({"key": key, "label": f"student ({method})", "role": "student",
                   "method": method, "precision": "int8" if qat else "float32",
                   "teacher": with_teacher, "params": student.get("params"),
                   "weight_bytes": None if qat else _float_bytes(student.get("params")),
                   "test_accuracy": accuracy, "tflite": MODEL_TFLITE if qat else None,
                   "board": None})
    return Run(directory=directory, dataset={"name": metrics.get("dataset")}, models=models,
               deployed=key if qat else None,
               config=(metrics.get("training") or {}).get("config") or {},
               seconds=metrics.get("seconds"))


def _float_bytes(params) -> int | None:
    return None if params is None else int(params) * FLOAT32_BYTES
