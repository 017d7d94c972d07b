"""Tests of edgekd/verify/target.py: the shared MLPerf Tiny models run bit-exact (against
the numpy reference and TFLite Micro) on emulated boards; `edgekd verify --target` and
`edgekd bench`."""
from __future__ import annotations

import json
from contextlib import ExitStack
from types import SimpleNamespace

import numpy as np
import pytest

from edgekd.cli import main
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.verify.boards import load_board
from edgekd.verify.qemu import BoardResult
from edgekd.verify.target import (
    BenchRow, _board_verify_result, format_bench_table, prepared_model, run_prepared,
    verify_target,
)

# Cortex-M4 (Arm DSP kernels), RV32 (portable C) and Cortex-M55 (Helium kernels).
MLPERF_BOARDS = ["mps2-an386", "rv32", "mps3-an547"]


def installed_board(name: str):
    board = load_board(name)
    if board.missing_tools():
        pytest.skip(f"{name}: {', '.join(board.missing_tools())} not installed")
    return board


@pytest.fixture(scope="module")
def prepare_mlperf():
    """A function giving an MLPerf Tiny model's generated C with 20 seeded inputs and both
    oracles' outputs; each model is prepared once per module."""
    prepared = {}
    with ExitStack() as stack:
        def prepare(path):
            if path not in prepared:
                prepared[path] = stack.enter_context(prepared_model(path, inputs=20, seed=1))
            return prepared[path]
        yield prepare


@pytest.mark.slow
@pytest.mark.parametrize("board_name", MLPERF_BOARDS)
def test_mlperf_model_is_bit_exact_on_board(mlperf_path, prepare_mlperf, board_name, tmp_path):
    board = installed_board(board_name)
    prepared = prepare_mlperf(mlperf_path)
    result = run_prepared(prepared, board, workdir=tmp_path, progress=None)
    assert result.bit_exact, result.summary()
    assert result.inputs == 20 and result.mismatches == 0
    assert result.compared == ["reference: outputs", "tflm: outputs"]
    # The reference outputs agree with TFLM's, so the board matched the oracle itself.
    assert np.array_equal(prepared.expected["reference"], prepared.expected["tflm"])
    assert 0.1 < result.instructions_per_mac < 60
    assert result.instructions["min"] <= result.instructions["mean"] <= result.instructions["max"]
    if board_name != "mps3-an547":  # weights_bytes: the build without Helium kernels
        assert result.flash_bytes > result.weights_bytes
    assert result.ram_bytes >= result.arena_bytes + result.stack_bytes
    assert 0 < result.stack_bytes < board.stack_size


@pytest.mark.slow
def test_verify_target_json_adds_board_measurements(mlperf_path, capsys):
    installed_board("rv32")
    assert main(["verify", str(mlperf_path), "--target", "rv32", "--inputs", "2",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == "rv32" and report["bit_exact"] is True and report["inputs"] == 2
    assert report["instructions"]["error"] == 1 and report["instructions"]["mean"] > 1e6
    assert report["flash_bytes"] > report["weights_bytes"] > 0
    assert report["ram_bytes"] > report["arena_bytes"] > 0


@pytest.mark.slow
def test_bench_reports_boards_the_model_does_not_fit(mlperf_path, capsys):
    installed_board("rv32")
    installed_board("microbit")
    assert main(["bench", str(mlperf_path), "--targets", "microbit", "rv32", "--inputs", "1",
                 "--json"]) == 0
    microbit, rv32 = json.loads(capsys.readouterr().out)
    if "kws" in str(mlperf_path):
        # With its layers in place KWS needs under 11 KB of RAM: the 16 KB micro:bit runs it.
        assert microbit["bit_exact"] is True and microbit["ram_bytes"] <= 16384
    else:
        assert "does not fit microbit" in microbit["problem"] and "RAM" in microbit["problem"]
    assert rv32["bit_exact"] is True and rv32["instructions_per_mac"] > 2


def quantize_dequantize_graph() -> Graph:
    """float32 [1, 8] -> QUANTIZE -> int8 -> DEQUANTIZE -> float32: the float boundary ops."""
    q = QuantParams.per_tensor(0.05, 3)
    tensors = {"x": Tensor("x", (1, 8), "float32", None),
               "xq": Tensor("xq", (1, 8), "int8", q),
               "y": Tensor("y", (1, 8), "float32", None)}
    nodes = [Node("QUANTIZE", "quantize", ["x"], ["xq"]),
             Node("DEQUANTIZE", "dequantize", ["xq"], ["y"])]
    return Graph("qdq", tensors, nodes, ["x"], ["y"])


@pytest.mark.slow
@pytest.mark.parametrize("board_name", ["mps2-an386", "microbit"])  # FPU, soft float
def test_float_inputs_and_outputs_are_bit_exact(board_name):
    board = installed_board(board_name)
    inputs = np.random.default_rng(2).uniform(-7, 7, (5, 1, 8)).astype(np.float32)
    inputs[0, 0, :4] = [0.025, -0.075, 1e-9, 100.0]  # rounding ties, saturation
    result = verify_target(quantize_dequantize_graph(), board, inputs=inputs, progress=None)
    assert result.bit_exact, result.summary()
    assert result.inputs == 5 and result.compared == ["reference: outputs"]


def test_board_outputs_are_compared_with_every_oracle():
    expected = np.arange(8, dtype=np.int8).reshape(2, 1, 4)
    tflm = expected.copy()
    tflm[1, 0, 2] = 100  # an oracle that disagrees on one element of sample 1
    prepared = SimpleNamespace(
        expected={"reference": expected, "tflm": tflm}, label="m.tflite", inputs=expected,
        graph=SimpleNamespace(outputs=["logits"], nodes=[None, None, None]),
        arena_bytes=64, weights_bytes=128, tflm_arena_bytes=None, macs=1000, oracles_not_run=(),
        oracle_crash=None)
    board_result = BoardResult(
        board="rv32", model="m", instructions=(5000, 5002), instruction_error=1,
        flash_bytes=4000, ram_bytes=300, stack_bytes=100, arena_bytes=64, mismatches=(),
        outputs=expected.copy(), expected=expected, seconds=0.1)
    result = _board_verify_result(prepared, load_board("rv32"), board_result)
    assert not result.bit_exact and result.mismatches == 1
    first = result.first_mismatch
    assert (first.sample, first.against, first.index, first.expected, first.got) == (
        1, "tflm", 2, 100, 6)
    assert result.instructions == {"min": 5000, "max": 5002, "mean": 5001.0, "error": 1}
    assert result.instructions_per_mac == pytest.approx(5.001)


def test_bench_table_has_a_row_per_board():
    result = SimpleNamespace(instructions={"mean": 41959640.0, "error": 40},
                             instructions_per_mac=15.79, flash_bytes=39380, ram_bytes=16328,
                             stack_bytes=316)
    table = format_bench_table([
        BenchRow("microbit", "Cortex-M0", None, "does not fit: needs 18060 bytes of RAM"),
        BenchRow("mps2-an386", "Cortex-M4F", result),
    ])
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["board", "core"]
    assert "41,959,640 ±40" in lines[2] and "15.79" in lines[2] and "39,380" in lines[2]
    assert lines[-1] == "microbit: does not fit: needs 18060 bytes of RAM"
