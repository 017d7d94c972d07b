"""Verify and benchmark a model file on emulated boards: ``edgekd verify --target`` and
``edgekd bench``.

The model's C is generated once, its expected outputs come from the numpy integer
reference (and, for a .tflite file, from TFLite Micro, the oracle), and each board runs
the same input vectors through ``qemu.verify_on_board``: outputs must match byte for byte;
instructions per inference, flash and RAM are measured on the way.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from edgekd.codegen import default_model_name
from edgekd.codegen.render import generate_model, model_identifier, write_files
from edgekd.errors import BoardFitError, EdgeKDError, ToolchainError, VerificationError
from edgekd.ir import Graph
from edgekd.shapes import graph_macs
from edgekd.verify.boards import Board, load_board
from edgekd.verify.firmware import Progress, stderr_progress
from edgekd.verify.host import (
    TFLM_NOT_INSTALLED, Mismatch, VerifyResult, load_graph, random_inputs, tflm_can_run,
    tflm_installed,
)
from edgekd.verify.qemu import BoardResult, verify_on_board

# Emulated instructions per second assumed when sizing the default timeout: QEMU with
# -icount runs a few hundred million on a desktop; this leaves room for a slow CI host.
_SLOW_HOST_INSTRUCTIONS_PER_S = 20e6
_INSTRUCTIONS_PER_MAC_BOUND = 60  # generous: the portable kernels need about 16


@dataclass
class BoardVerifyResult(VerifyResult):
    """A VerifyResult for a board, with what the board measured. ``instructions``:
    per inference, {"min", "max", "mean", "error"} (error: the counter's resolution)."""

    instructions: dict = field(default_factory=dict)
    instructions_per_mac: float | None = None
    macs: int = 0
    flash_bytes: int = 0  # code + constants + initialised data, without the test inputs
    ram_bytes: int = 0  # .data + .bss (arena included) + measured stack
    stack_bytes: int = 0  # measured stack high-water mark
    seconds: float = 0.0  # wall-clock time of the QEMU run

    def summary(self) -> str:
        per_mac = (f", {self.instructions_per_mac:.2f}/MAC"
                   if self.instructions_per_mac is not None else "")
        return (super().summary() +
                f"\n{self.target}: {self.instructions['mean']:,.0f} instructions/inference "
                f"(±{self.instructions['error']}){per_mac}; flash {self.flash_bytes} bytes "
                f"without the test inputs, RAM {self.ram_bytes} bytes (measured stack "
                f"{self.stack_bytes} included)")


@dataclass(frozen=True)
class PreparedModel:
    """A model's generated C in ``directory`` with the inputs and expected outputs."""

    label: str  # the model file (or graph name), for messages
    name: str  # C name prefix
    graph: Graph
    directory: Path
    inputs: np.ndarray
    expected: dict[str, np.ndarray]  # oracle ("reference", "tflm") -> [N, *output_shape]
    arena_bytes: int
    weights_bytes: int
    macs: int
    tflm_arena_bytes: int | None
    oracles_not_run: tuple[str, ...] = ()  # e.g. TFLM when tflite-micro is not installed
    oracle_crash: str | None = None  # why TFLM gave no expected outputs (it crashed)

    def default_timeout_s(self) -> float:
        """Seconds a run of all inputs may take before it counts as a hang."""
        instructions = len(self.inputs) * max(self.macs, 1) * _INSTRUCTIONS_PER_MAC_BOUND
        return 60.0 + instructions / _SLOW_HOST_INSTRUCTIONS_PER_S


@contextmanager
def prepared_model(model: str | os.PathLike | Graph, inputs: int | np.ndarray = 20,
                   name: str | None = None, seed: int = 0,
                   tflm: bool = True) -> Iterator[PreparedModel]:
    """Generate the model's C into a temporary folder and compute its expected outputs."""
    from edgekd.interpreter import run

    graph, tflite_path = load_graph(model)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise EdgeKDError(f"{model}: board verification needs one input and one output")
    name = model_identifier(name) if name else default_model_name(model)
    samples = (random_inputs(graph, int(inputs), seed) if isinstance(inputs, (int, np.integer))
               else _input_batch(graph, inputs))
    expected = {"reference": np.stack([run(graph, sample)[0] for sample in samples])}
    tflm_arena = None
    not_run = ()
    oracle_crash = None
    if tflite_path is not None and tflm and tflm_can_run(graph) and not tflm_installed():
        not_run = (TFLM_NOT_INSTALLED,)
    elif tflite_path is not None and tflm and tflm_can_run(graph):
        from edgekd.verify.isolated import OracleCrashed
        from edgekd.verify.tflm import tflm_oracle

        try:
            outputs, tflm_arena = tflm_oracle(tflite_path, samples, every_tensor=False)
            expected["tflm"] = outputs[0].reshape(expected["reference"].shape)
        except OracleCrashed as crash:
            oracle_crash = crash.args[0].split(": ", 1)[-1]
    generated = generate_model(graph, name)
    label = str(model) if not isinstance(model, Graph) else graph.name
    with tempfile.TemporaryDirectory(prefix=f"edgekd-{name}-") as scratch:
        directory = Path(scratch) / name
        write_files(generated, directory)
        yield PreparedModel(label=label, name=name, graph=graph, directory=directory,
                            inputs=samples, expected=expected,
                            arena_bytes=generated.plan.arena_bytes,
                            weights_bytes=generated.weights_bytes, macs=graph_macs(graph),
                            tflm_arena_bytes=tflm_arena, oracles_not_run=not_run,
                            oracle_crash=oracle_crash)


def run_prepared(prepared: PreparedModel, board: Board | str, timeout_s: float | None = None,
                 workdir: str | os.PathLike | None = None,
                 progress: Progress | None = stderr_progress) -> BoardVerifyResult:
    """Runs a prepared model on one board and compares its outputs with every oracle."""
    board = load_board(board) if isinstance(board, str) else board
    reference = prepared.expected["reference"]
    result = verify_on_board(board, prepared.directory, prepared.name, prepared.inputs,
                             reference, timeout_s or prepared.default_timeout_s(),
                             workdir=workdir, progress=progress)
    return _board_verify_result(prepared, board, result)


def verify_target(model: str | os.PathLike | Graph, board: Board | str,
                  inputs: int | np.ndarray = 20, name: str | None = None, seed: int = 0,
                  timeout_s: float | None = None, tflm: bool = True,
                  workdir: str | os.PathLike | None = None,
                  progress: Progress | None = stderr_progress) -> BoardVerifyResult:
    """Generate ``model``'s C, run it on ``board`` under QEMU for ``inputs`` (a count of
    seeded random inputs or an array [N, *input_shape]) and compare every output byte with
    the numpy reference and, for .tflite files, TFLite Micro."""
    with prepared_model(model, inputs, name, seed, tflm) as prepared:
        return run_prepared(prepared, board, timeout_s, workdir, progress)


@dataclass(frozen=True)
class BenchRow:
    """One board's line of ``edgekd bench``: measurements, or why there are none."""

    board: str
    core: str
    result: BoardVerifyResult | None
    problem: str | None = None  # the BoardFitError or missing-tools message

    def to_json(self) -> dict:
        row: dict = {"board": self.board, "core": self.core}
        if self.result is None:
            row["problem"] = self.problem
            return row
        r = self.result
        row.update(bit_exact=r.bit_exact, inferences=r.inputs, instructions=r.instructions,
                   instructions_per_mac=r.instructions_per_mac, macs=r.macs,
                   flash_bytes=r.flash_bytes, ram_bytes=r.ram_bytes,
                   stack_bytes=r.stack_bytes, arena_bytes=r.arena_bytes,
                   weights_bytes=r.weights_bytes)
        return row


def bench(model: str | os.PathLike | Graph, boards: Sequence[Board | str],
          inputs: int | np.ndarray = 5, name: str | None = None, seed: int = 0,
          timeout_s: float | None = None,
          progress: Progress | None = stderr_progress) -> list[BenchRow]:
    """Instructions per inference, flash and RAM of ``model`` on each board. A board the
    model does not fit, or whose tools are missing, gets a row saying so; a fault, a hang
    or a mismatch raises (a benchmark of wrong code means nothing)."""
    rows = []
    with prepared_model(model, inputs, name, seed, tflm=False) as prepared:
        for board in boards:
            board = load_board(board) if isinstance(board, str) else board
            try:
                result = run_prepared(prepared, board, timeout_s, progress=progress)
            except BoardFitError as error:
                rows.append(BenchRow(board.name, board.core, None, str(error)))
                continue
            except ToolchainError as error:
                if board.missing_tools():
                    rows.append(BenchRow(board.name, board.core, None, str(error)))
                    continue
                raise
            if not result.bit_exact:
                raise VerificationError(result.summary())
            rows.append(BenchRow(board.name, board.core, result))
    return rows


def format_bench_table(rows: Sequence[BenchRow]) -> str:
    """``edgekd bench`` as a text table."""
    header = ("board", "core", "instructions/inference", "instructions/MAC", "flash (B)",
              "RAM (B)", "stack (B)")
    lines = [header]
    notes = []
    for row in rows:
        r = row.result
        if r is None:
            lines.append((row.board, row.core, "-", "-", "-", "-", "-"))
            notes.append(f"{row.board}: {row.problem}")
            continue
        lines.append((row.board, row.core,
                      f"{r.instructions['mean']:,.0f} ±{r.instructions['error']}",
                      f"{r.instructions_per_mac:.2f}" if r.instructions_per_mac else "-",
                      f"{r.flash_bytes:,}", f"{r.ram_bytes:,}", f"{r.stack_bytes:,}"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.rjust(w) if i >= 2 else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
            for line in lines]
    return "\n".join(text + notes)


def _input_batch(graph: Graph, inputs: np.ndarray) -> np.ndarray:
    """``inputs`` as [N, *input_shape] (one sample gains the N axis), checked."""
    tensor = graph.tensor(graph.inputs[0])
    batch = np.asarray(inputs)
    if batch.shape == tensor.shape:
        batch = batch[None]
    if batch.shape[1:] != tensor.shape or batch.dtype != np.dtype(tensor.dtype) or not len(batch):
        raise EdgeKDError(f"graph {graph.name!r}: inputs must be {tensor.dtype} "
                          f"[N, {', '.join(map(str, tensor.shape))}] with N >= 1, got "
                          f"{batch.dtype} {list(batch.shape)}")
    return np.ascontiguousarray(batch)


def _board_verify_result(prepared: PreparedModel, board: Board,
                         result: BoardResult) -> BoardVerifyResult:
    compared = []
    bad: set[int] = set()
    first: Mismatch | None = None
    output_name = prepared.graph.outputs[0]
    if prepared.oracle_crash:
        compared.append(f"tflm: not compared, {prepared.oracle_crash}")
    for against, expected in prepared.expected.items():
        compared.append(f"{against}: outputs")
        differs = (result.outputs.view(np.uint8) != expected.view(np.uint8)).reshape(
            len(expected), -1)
        rows = np.flatnonzero(differs.any(axis=1))
        bad.update(int(r) for r in rows)
        if rows.size and first is None:
            sample = int(rows[0])
            index = int(np.flatnonzero(differs[sample])[0]) // expected.itemsize
            first = Mismatch(sample=sample, layer=len(prepared.graph.nodes) - 1,
                             tensor=output_name, against=against, index=index,
                             expected=expected[sample].reshape(-1)[index].item(),
                             got=result.outputs[sample].reshape(-1)[index].item())
    mean = result.instructions_mean
    return BoardVerifyResult(
        model=prepared.label, target=board.name, inputs=len(prepared.inputs),
        mismatches=len(bad), bit_exact=not bad, arena_bytes=result.arena_bytes,
        weights_bytes=prepared.weights_bytes,
        compared=compared + list(prepared.oracles_not_run),
        tflm_arena_bytes=prepared.tflm_arena_bytes, first_mismatch=first,
        instructions={"min": result.instructions_min, "max": result.instructions_max,
                      "mean": mean, "error": result.instruction_error},
        instructions_per_mac=mean / prepared.macs if prepared.macs else None,
        macs=prepared.macs, flash_bytes=result.flash_bytes, ram_bytes=result.ram_bytes,
        stack_bytes=result.stack_bytes, seconds=result.seconds)
