"""edgekd against TFLite Micro on the MLPerf Tiny models, on emulated boards.

    .venv/bin/python benchmarks/mlperf_tiny.py [--inputs N] [--boards B ...]   (make bench)

For KWS (DS-CNN) and ResNet-8 it generates the C once, runs it on each board under QEMU
with the `edgekd bench` / `edgekd verify --target` machinery (edgekd.verify.target:
seeded random inputs, every output compared with the numpy reference and TFLite Micro,
instructions per inference counted with -icount), and prints a markdown table on stdout
(progress on stderr):

- instructions per inference and the ratio to the baseline: TFLM with CMSIS-NN, measured
  the same way, on the Cortex-M4, M7 and M55 (Helium) boards; TFLM's reference kernels / 3
  (the target for the portable C path) on the Cortex-M3 and RV32 boards;
- arena bytes (the planned activations and kernel scratch, one plan for every build),
  checked against 0.6 x TFLM's arena, also as planned for the Helium build's kernels
  alone and with the caller's input and output buffers counted;
- code bytes: .text + .rodata of the runtime and the generated code in the linked
  firmware, built with the board's flags (board.toml: -O2 on these boards). Each
  symbol's source file comes from the firmware's debug info (nm -l); the weights (every
  array of <name>_weights.c: filters, biases, requantization multipliers and shifts) are
  left out, as are the board's startup, console and harness code and the C library;
- flash bytes as `edgekd bench` reports them (everything but the test inputs).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgekd.verify.boards import load_board  # noqa: E402
from edgekd.verify.cffi_build import RUNTIME_DIR  # noqa: E402
from edgekd.verify.target import prepared_model, run_prepared  # noqa: E402

SHARED = Path(os.environ.get("EDGEKD_SHARED", REPO.parent / "shared"))
MODELS = {
    "KWS": SHARED / "models" / "mlperf-tiny" / "kws_ref_model.tflite",
    "ResNet-8": SHARED / "models" / "mlperf-tiny" / "pretrainedResnet_quant.tflite",
}
BOARDS = ["mps2-an386", "mps2-an500", "mps3-an547", "mps2-an385", "rv32"]

# Instructions per inference of the baselines (QEMU -icount, as `edgekd verify --target`):
# TFLM + CMSIS-NN on the M4 and M7; TFLM's reference kernels on the M4 / 3 as the target of
# the portable path on cores without DSP instructions.
TFLM_CMSIS_NN = {
    ("KWS", "mps2-an386"): 7_697_711, ("ResNet-8", "mps2-an386"): 29_863_289,
    ("KWS", "mps2-an500"): 7_643_486, ("ResNet-8", "mps2-an500"): 30_026_427,
    ("KWS", "mps3-an547"): 1_813_519, ("ResNet-8", "mps3-an547"): 4_911_471,
}
# TFLM's arena (bytes) on the MLPerf Tiny models, and edgekd's target: 0.6 x that.
TFLM_ARENA = {"KWS": 22_820, "ResNet-8": 54_996}
ARENA_RATIO = 0.6
HELIUM_BOARD = "mps3-an547"
TFLM_REFERENCE_M4 = {"KWS": 43_000_000, "ResNet-8": 107_400_000}
PORTABLE_BOARDS = ("mps2-an385", "rv32")
TARGET_RATIO = 0.67  # edgekd <= 0.67 x TFLM + CMSIS-NN on the M4 and M7
TARGET_RATIOS = {HELIUM_BOARD: 1.0}  # at or below TFLM + CMSIS-NN with Helium
CODE_LIMIT = 16 * 1024  # runtime + generated code per model on the M4


def progress(message: str) -> None:
    print(f"mlperf_tiny: {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    model: str
    board: str
    core: str
    instructions: float
    bit_exact: bool
    arena: int
    code: int
    flash: int
    weights: int

    @property
    def baseline(self) -> tuple[str, float] | None:
        if (self.model, self.board) in TFLM_CMSIS_NN:
            return "TFLM+CMSIS-NN", TFLM_CMSIS_NN[(self.model, self.board)]
        if self.board in PORTABLE_BOARDS:
            return "TFLM ref. / 3", TFLM_REFERENCE_M4[self.model] / 3
        return None


def code_bytes(board_name: str, elf: Path, model_dir: Path, name: str) -> int:
    """.text + .rodata bytes of the runtime's and the generated code's symbols in ``elf``,
    without the arrays of <name>_weights.c (nm -S -l: size and source file per symbol)."""
    board = load_board(board_name)
    out = subprocess.run([f"{board.tool_prefix}nm", "-S", "-l", str(elf)], check=True,
                         capture_output=True, text=True).stdout
    total = 0
    runtime = str(RUNTIME_DIR)
    generated = str(model_dir / f"{name}.c")
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[2] not in "tTrR":
            continue
        source = fields[4].rsplit(":", 1)[0]
        if source.startswith(runtime) or source == generated:
            total += int(fields[1], 16)
    return total


def measure(model: str, path: Path, boards: list[str], inputs: int) -> list[Row]:
    rows = []
    progress(f"{model}: generating C and the expected outputs (numpy reference, TFLM)")
    with prepared_model(path, inputs=inputs, seed=0) as prepared:
        for board_name in boards:
            board = load_board(board_name)
            if board.missing_tools():
                progress(f"{board_name}: skipped, missing {', '.join(board.missing_tools())}")
                continue
            with tempfile.TemporaryDirectory(prefix="edgekd-bench-") as work:
                result = run_prepared(prepared, board, workdir=work,
                                      progress=lambda m: progress(f"{model}: {m}"))
                code = code_bytes(board_name, Path(work) / "firmware.elf",
                                  prepared.directory, prepared.name)
            rows.append(Row(model, board_name, board.core, result.instructions["mean"],
                            result.bit_exact, result.arena_bytes, code, result.flash_bytes,
                            result.weights_bytes))
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| model | board | core | instructions | baseline | ratio | bit-exact | arena (B) "
        "| code (B) | flash (B) |",
        "|---|---|---|---:|---|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        base = r.baseline
        baseline = f"{base[0]} {base[1] / 1e6:.2f} M" if base else "-"
        ratio = f"{r.instructions / base[1]:.2f}" if base else "-"
        lines.append(f"| {r.model} | {r.board} | {r.core} | {r.instructions / 1e6:.2f} M | "
                     f"{baseline} | {ratio} | {'yes' if r.bit_exact else 'NO'} | "
                     f"{r.arena:,} | {r.code:,} | {r.flash:,} |")
    return "\n".join(lines)


def verdicts(rows: list[Row]) -> list[str]:
    """One line per target of the optimization (issue 8): met or missed."""
    lines = []
    for r in rows:
        base = r.baseline
        if base and r.board not in PORTABLE_BOARDS:
            ratio = TARGET_RATIOS.get(r.board, TARGET_RATIO)
            limit = ratio * base[1]
            ok = r.instructions <= limit
            lines.append(f"- {r.model} on {r.board}: {r.instructions / 1e6:.2f} M <= "
                         f"{limit / 1e6:.2f} M ({ratio:g} x TFLM+CMSIS-NN): "
                         f"{'met' if ok else 'MISSED'}")
        elif base:
            ok = r.instructions <= base[1]
            lines.append(f"- {r.model} on {r.board}: {r.instructions / 1e6:.2f} M <= "
                         f"{base[1] / 1e6:.2f} M (TFLM reference kernels / 3): "
                         f"{'met' if ok else 'MISSED'}")
        if r.board == "mps2-an386":
            ok = r.code <= CODE_LIMIT
            lines.append(f"- {r.model} code on {r.board}: {r.code:,} B <= {CODE_LIMIT:,} B: "
                         f"{'met' if ok else 'MISSED'}")
        if not r.bit_exact:
            lines.append(f"- {r.model} on {r.board}: outputs differ from the reference")
    return lines


def arena_verdicts() -> list[str]:
    """The generated arena (one plan for every build) against 0.6 x TFLM's, also with
    the caller's input and output buffers counted."""
    from edgekd.codegen import generate_model
    from edgekd.frontends import load_model

    lines = []
    for model, path in MODELS.items():
        graph = load_model(path)
        io = sum(graph.tensor(n).nbytes for n in (*graph.inputs, *graph.outputs))
        plan = generate_model(graph, "m").plan
        arena = plan.arena_bytes
        # TFLM's arena holds its input and output tensors; ours can too, at no cost
        # where the plan keeps them a place (ArenaPlan.io_offsets).
        io_note = ("input and output inside" if plan.io_offsets else
                   f"+ input/output {arena + io:,} B")
        limit = ARENA_RATIO * TFLM_ARENA[model]
        lines.append(f"- {model} arena: {arena:,} B ({io_note}) "
                     f"<= {limit:,.0f} B (0.6 x TFLM's {TFLM_ARENA[model]:,} B): "
                     f"{'met' if arena <= limit else 'MISSED'}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=3, help="inferences per board")
    parser.add_argument("--boards", nargs="+", default=BOARDS)
    args = parser.parse_args()
    missing = [str(p) for p in MODELS.values() if not p.is_file()]
    if missing:
        print(f"mlperf_tiny: models not found: {', '.join(missing)} (set EDGEKD_SHARED)",
              file=sys.stderr)
        return 2
    rows = []
    for model, path in MODELS.items():
        rows += measure(model, path, args.boards, args.inputs)
    print(table(rows))
    print()
    print("\n".join(verdicts(rows) + arena_verdicts()))
    return 0 if all(r.bit_exact for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
