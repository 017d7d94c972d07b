"""edgekd report on synthetic run directories (docs/rundir.md): the files it writes, what the
markdown says, and the one-line errors for folders that are not runs. No training."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekd.cli import main
from edgekd.errors import EdgeKDError
from edgekd.frontends.tflite import save_tflite
from edgekd.report import write_report
from edgekd.report.plots import live_arena_bytes
from edgekd.report.rundir import load_run
from tests.codegen.graphs import small_cnn

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _model(key, label, role, method, precision, teacher, params, accuracy, weight_bytes,
           board=None, tflite=None):
    return {"key": key, "label": label, "role": role, "method": method,
            "precision": precision, "teacher": teacher, "params": params,
            "weight_bytes": weight_bytes, "test_accuracy": accuracy, "tflite": tflite,
            "board": board}


@pytest.fixture
def demo_run(tmp_path) -> Path:
    """A run directory as `edgekd demo` writes it, with made-up numbers and a small model."""
    run = tmp_path / "run"
    (run / "c").mkdir(parents=True)
    save_tflite(small_cnn(), run / "model.tflite")
    board = {"target": "mps2-an386", "bit_exact": True, "inputs": 20, "flash_bytes": 29496,
             "ram_bytes": 4380, "arena_bytes": 3712, "stack_bytes": 656,
             "instructions": 302146.0, "instructions_per_mac": 1.98}
    models = [
        _model("teacher", "teacher", "teacher", "CE", "float32", False, 94186, 0.9814, 376744),
        _model("ce-float", "student, no teacher", "student", "CE", "float32", False, 6274,
               0.9628, 25096),
        _model("ce-int8", "student, no teacher", "student", "QAT", "int8", False, 6274,
               0.9591, 6416, board, "runs/ce-int8/model.tflite"),
        _model("kd-float", "student, KD", "student", "KD (ced)", "float32", True, 6274,
               0.9665, 25096),
        _model("kd-int8", "student, QAT+KD", "student", "QAT+KD (ced)", "int8", True, 6274,
               0.9740, 6416, board, "runs/kd-int8/model.tflite"),
    ]
    (run / "run.json").write_text(json.dumps({
        "format": "edgekd-run-1",
        "dataset": {"name": "digits", "train": 1259, "val": 269, "test": 269},
        "models": models, "deployed": "kd-int8", "target_pp": 1.0,
        "config": {"seed": 0}, "stages": {"teacher": 20.0}, "seconds": 100.0}))
    (run / "verify.json").write_text(json.dumps({
        "model": "model.tflite",
        "host": {"target": "host", "inputs": 269, "bit_exact": True, "mismatches": 0,
                 "compared": ["reference: every tensor", "tflm: 8 tensors incl. outputs"]},
        "boards": [{"target": "mps2-an386", "inputs": 20, "bit_exact": True, "mismatches": 0,
                    "compared": ["reference: outputs"], "flash_bytes": 29496,
                    "ram_bytes": 4380, "stack_bytes": 656, "arena_bytes": 3712,
                    "instructions": {"min": 1, "max": 2, "mean": 302146.0, "error": 40},
                    "instructions_per_mac": 1.98}]}))
    return run


def test_demo_run_gets_markdown_and_three_plots(demo_run):
    path = write_report(demo_run)
    assert path == demo_run / "report.md"
    text = path.read_text()
    for name in ("accuracy_vs_size.png", "arena.png", "layers.png"):
        png = demo_run / "plots" / name
        assert png.read_bytes()[:8] == PNG_MAGIC, name
        assert png.stat().st_size > 10_000, name  # a drawn figure, not an empty canvas
        assert f"](plots/{name})" in text, name
    assert "QAT+KD (ced)" in text and "**(deployed)**" in text
    assert "within 1 pp of the float teacher: met (0.74 pp below)" in text
    assert "302,146" in text and "estimated from its share of the MACs" in text
    assert "bit-exact on mps2-an386 (20 inputs) | yes" in text
    # no staging folders left behind
    assert sorted(p.name for p in demo_run.iterdir()) == [
        "c", "model.tflite", "plots", "report.md", "run.json", "verify.json"]


def test_report_replaces_an_earlier_one(demo_run):
    write_report(demo_run)
    (demo_run / "plots" / "stale.png").write_bytes(b"old")
    write_report(demo_run)
    assert not (demo_run / "plots" / "stale.png").exists()
    assert len(list((demo_run / "plots").iterdir())) == 3


def test_arena_rows_match_the_plan(demo_run):
    from edgekd.codegen.render import generate_model
    from edgekd.frontends import load_model

    plan = generate_model(load_model(demo_run / "model.tflite"), "m").plan
    live = live_arena_bytes(plan)
    assert len(live) == plan.num_steps
    assert max(live) <= plan.arena_bytes
    assert max(live) >= plan.lower_bound  # the busiest layer holds at least the bound
    text = write_report(demo_run).read_text()
    for step, value in enumerate(live):
        assert f"| {step} | {step} " in text and f"{value:,}" in text


def test_distill_folder_without_tflite(tmp_path):
    """A float `edgekd distill` output: teacher and student, accuracy plot only."""
    (tmp_path / "metrics.json").write_text(json.dumps({
        "dataset": "digits", "loss": {"kind": "ced"}, "qat": False,
        "teacher": {"spec": "edgekd.zoo:digits_teacher", "params": 94186,
                    "test_accuracy": 0.98},
        "student": {"spec": "edgekd.zoo:digits_student", "params": 6274,
                    "test_accuracy": 0.97, "int8_test_accuracy": None}}))
    text = write_report(tmp_path).read_text()
    assert "](plots/accuracy_vs_size.png)" in text
    assert "No `model.tflite`" in text
    assert "arena.png" not in text and "layers.png" not in text
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["accuracy_vs_size.png"]


def test_distill_qat_folder(tmp_path):
    save_tflite(small_cnn(), tmp_path / "model.tflite")
    (tmp_path / "metrics.json").write_text(json.dumps({
        "dataset": "digits", "loss": {"kind": "ce"}, "qat": True, "teacher": None,
        "student": {"params": 500, "test_accuracy": 0.9, "int8_test_accuracy": 0.89}}))
    run = load_run(tmp_path)
    assert [m["precision"] for m in run.models] == ["int8"] and run.deployed == "student"
    text = write_report(tmp_path).read_text()
    for name in ("accuracy_vs_size.png", "arena.png", "layers.png"):
        assert f"](plots/{name})" in text
    assert "no instruction estimate" in text  # no verify.json: MACs only


@pytest.mark.parametrize("content, message", [
    (None, "not a run directory"),
    ("{not json", "not readable JSON"),
    ('{"format": "edgekd-run-9", "models": []}', "format 'edgekd-run-9'"),
    ('{"format": "edgekd-run-1", "models": [{"key": "x"}]}', "models[0] lacks"),
])
def test_bad_run_directories(tmp_path, content, message):
    if content is not None:
        (tmp_path / "run.json").write_text(content)
    with pytest.raises(EdgeKDError, match=message.replace("[", r"\[")):
        write_report(tmp_path)
    assert not (tmp_path / "report.md").exists()
    assert [p.name for p in tmp_path.iterdir()] == (["run.json"] if content else [])


def test_cli_report(demo_run, tmp_path, capsys):
    assert main(["report", str(demo_run)]) == 0
    assert "report.md" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgekd: error: ") and "no such directory" in err
    assert "\n" not in err
