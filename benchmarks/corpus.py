"""edgekd on every model of the corpus and the MLPerf Tiny models, on emulated boards.

    .venv/bin/python benchmarks/corpus.py [--inputs N] [--boards B ...] [--models M ...]
                                                                   (make bench, after
                                                                    benchmarks/mlperf_tiny.py)

One row per model, none left out: the models edgekd runs get their MACs, instructions per
inference on each board (QEMU -icount, as `edgekd bench`), instructions per MAC, arena,
code (runtime + generated code, weights left out, as benchmarks/mlperf_tiny.py counts
it) and flash bytes, every output checked against the numpy reference; the others get the
one-line reason edgekd refuses them (an op or type it does not support yet, a model too
big for the board's flash). Models come from ../shared/models/{corpus,mlperf-tiny} (or
EDGEKD_SHARED). A markdown table goes to stdout, progress to stderr.

The TFLM + CMSIS-NN column holds instruction counts measured with the same harness where
one was measured (``TFLM_CMSIS_NN`` in benchmarks/mlperf_tiny.py says how); "-" where none
is.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from mlperf_tiny import MODELS as MLPERF_MODELS, SHARED, TFLM_CMSIS_NN, code_bytes  # noqa: E402

from edgekd.errors import EdgeKDError  # noqa: E402
from edgekd.verify.boards import load_board  # noqa: E402
from edgekd.verify.target import prepared_model, run_prepared  # noqa: E402

CORPUS = SHARED / "models" / "corpus"
BOARDS = ["mps2-an386", "mps3-an547"]


def progress(message: str) -> None:
    print(f"corpus: {message}", file=sys.stderr, flush=True)


@dataclass
class Measured:
    instructions: float
    bit_exact: bool
    arena: int
    code: int
    flash: int


@dataclass
class ModelRow:
    model: str
    macs: int | None = None
    boards: dict[str, Measured | str] = field(default_factory=dict)  # str: why not
    refused: str | None = None


def models() -> dict[str, Path]:
    """Every corpus model, then the MLPerf Tiny ones, by display name."""
    found = {p.stem: p for p in sorted(CORPUS.glob("*.tflite"))}
    found.update(MLPERF_MODELS)
    return found


def measure(name: str, path: Path, boards: list[str], inputs: int) -> ModelRow:
    row = ModelRow(name)
    progress(f"{name}: generating C and the expected outputs")
    try:
        with prepared_model(path, inputs=inputs, seed=0, tflm=False) as prepared:
            row.macs = prepared.macs
            for board_name in boards:
                row.boards[board_name] = _run(name, prepared, board_name)
    except EdgeKDError as e:
        row.refused = str(e).splitlines()[0]
    return row


def _run(name: str, prepared, board_name: str) -> Measured | str:
    board = load_board(board_name)
    if board.missing_tools():
        return f"missing {', '.join(board.missing_tools())}"
    with tempfile.TemporaryDirectory(prefix="edgekd-corpus-") as work:
        try:
            result = run_prepared(prepared, board, workdir=work,
                                  progress=lambda m: progress(f"{name}: {m}"))
        except EdgeKDError as e:
            return str(e).splitlines()[0]
        code = code_bytes(board_name, Path(work) / "firmware.elf", prepared.directory,
                          prepared.name)
    return Measured(result.instructions["mean"], result.bit_exact, result.arena_bytes, code,
                    result.flash_bytes)


def table(rows: list[ModelRow], boards: list[str]) -> str:
    lines = ["| model | MACs | board | instructions | instr/MAC | TFLM+CMSIS-NN | ratio "
             "| bit-exact | arena (B) | code (B) | flash (B) |",
             "|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        if r.refused:
            lines.append(f"| {r.model} | - | - | refused: {_cell(r.refused)} |"
                         " | | | | | | |")
            continue
        for board in boards:
            m = r.boards[board]
            if isinstance(m, str):
                lines.append(f"| {r.model} | {r.macs:,} | {board} | not run: {_cell(m)} |"
                             " | | | | | | |")
                continue
            base = TFLM_CMSIS_NN.get((r.model, board))
            lines.append(
                f"| {r.model} | {r.macs:,} | {board} | {m.instructions / 1e6:.3f} M | "
                f"{m.instructions / max(r.macs, 1):.2f} | "
                f"{f'{base / 1e6:.3f} M' if base else '-'} | "
                f"{f'{m.instructions / base:.2f}' if base else '-'} | "
                f"{'yes' if m.bit_exact else 'NO'} | {m.arena:,} | {m.code:,} | "
                f"{m.flash:,} |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """A reason as a table cell: without the list of supported ops that follows it."""
    return text.split("; supported:")[0].replace("|", "/")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=2, help="inferences per board")
    parser.add_argument("--boards", nargs="+", default=BOARDS)
    parser.add_argument("--models", nargs="+", help="names (file stems) to run; all if absent")
    args = parser.parse_args()
    available = models()
    if not CORPUS.is_dir():
        print(f"corpus: {CORPUS} not found (set EDGEKD_SHARED)", file=sys.stderr)
        return 2
    chosen = args.models or list(available)
    unknown = [m for m in chosen if m not in available]
    if unknown:
        print(f"corpus: unknown model(s) {', '.join(unknown)}; known: "
              f"{', '.join(available)}", file=sys.stderr)
        return 2
    rows = [measure(m, available[m], args.boards, args.inputs) for m in chosen]
    print(table(rows, args.boards))
    wrong = [r.model for r in rows for m in r.boards.values()
             if isinstance(m, Measured) and not m.bit_exact]
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
