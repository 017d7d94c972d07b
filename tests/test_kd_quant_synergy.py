"""benchmarks/kd_quant_synergy.py runs end to end with one epoch per stage (a smoke test: the
benchmark's numbers are only meaningful with its default epochs)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "kd_quant_synergy.py"


@pytest.mark.slow
def test_synergy_benchmark_smoke(tmp_path, capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("kd_quant_synergy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # the worker processes find the task functions by module name
    monkeypatch.setitem(sys.modules, "kd_quant_synergy", module)
    spec.loader.exec_module(module)
    assert module.main(["--seeds", "0", "1", "--settings", "narrow", "--teacher-epochs", "1",
                        "--epochs", "1", "--qat-epochs", "1", "--jobs", "1",
                        "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| student int8 QAT+KD ced |" in out and "wall time:" in out
    record = json.loads((tmp_path / "kd_quant_synergy.json").read_text())
    methods = record["summary"]["narrow"]["methods"]
    assert set(methods) == {key for key, _ in module.METHODS}
    assert all(len(m["values"]) == 2 and 0 <= m["mean"] <= 100 for m in methods.values())
    assert (tmp_path / "kd_quant_synergy.png").read_bytes()[:4] == b"\x89PNG"
