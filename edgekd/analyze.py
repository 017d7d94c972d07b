"""`edgekd analyze`: per layer, what the generated code costs.

For each layer of the generated code (a residual ADD fused into its convolution is part of
that layer): MACs, the bytes of constants its kernel reads (flash), the arena bytes live
while it runs (RAM: activations and kernel scratch), the kernel that runs and, with a
board, the instructions it takes there, measured under QEMU (-icount) by reading the
board's counter after each layer. An energy figure is an estimate: instructions times a
per-board energy per cycle from a datasheet (board.toml ``[energy]``, docs/boards.md).
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgekd.codegen import default_model_name
from edgekd.codegen.layers import LayerCode
from edgekd.codegen.render import GeneratedModel, generate_model, model_identifier, write_files
from edgekd.errors import EdgeKDError, ToolchainError
from edgekd.ir import Graph
from edgekd.report.plots import live_arena_bytes
from edgekd.verify.boards import Board, load_board
from edgekd.verify.cffi_build import RUNTIME_INCLUDE, runtime_sources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_PROFILE_TIMEOUT_S = 600.0
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")

_HARNESS = """\
#include <stdint.h>
#include "ekd_board.h"
#include "{name}.h"

#define NUM_LAYERS {layers}
uint32_t ekd_profile_ticks[NUM_LAYERS + 1];
static {name}_input_t input;
static {name}_output_t output;
static uint8_t arena[{NAME}_ARENA_SIZE > 0 ? {NAME}_ARENA_SIZE : 1]
    __attribute__((aligned({NAME}_ARENA_ALIGN)));

void ekd_profile_mark(int layer)
{{
    ekd_profile_ticks[layer + 1] = ekd_counter_read();
}}

int main(void)
{{
    int i;
    for (i = 0; i < (int)sizeof input.data; ++i) {{
        ((uint8_t *)input.data)[i] = (uint8_t)(i * 37u + 11u);
    }}
    ekd_counter_start();
    ekd_profile_ticks[0] = ekd_counter_read();
    i = {name}_invoke(&input, &output, arena);
    for (int l = 0; l < NUM_LAYERS; ++l) {{
        ekd_print("ekd:layer index=");
        ekd_print_u32((uint32_t)l);
        ekd_print(" ticks=");
        ekd_print_u32(ekd_profile_ticks[l + 1] - ekd_profile_ticks[l]);
        ekd_print("\\n");
    }}
    return i == 0 ? EKD_EXIT_PASS : EKD_EXIT_FAIL;
}}
"""

# Each layer's EKD_TAP call (the generated C's debug hook) reads the counter.
_TAP = """\
void ekd_profile_mark(int layer);
#define EKD_TAP(layer, tensor_id, pointer, bytes) ekd_profile_mark(layer)
"""


@dataclass(frozen=True)
class LayerCost:
    index: int
    op: str
    name: str
    kernel: str
    macs: int
    weight_bytes: int  # constants the kernel reads (flash)
    live_bytes: int  # arena bytes in use during the layer (RAM)
    instructions: int | None = None  # measured on the board

    @property
    def instructions_per_mac(self) -> float | None:
        return self.instructions / self.macs if self.instructions and self.macs else None


@dataclass(frozen=True)
class EnergyEstimate:
    picojoules_per_cycle: float
    source: str
    microjoules: float  # per inference: instructions x picojoules_per_cycle (IPC 1 assumed)


@dataclass(frozen=True)
class Analysis:
    model: str
    name: str
    target: str  # a board name, or "host" (the portable kernels)
    layers: list[LayerCost]
    arena_bytes: int
    weights_bytes: int
    energy: EnergyEstimate | None = None
    errors: list = dataclasses.field(default_factory=list)  # layer_error.LayerError per node
    error_inputs: str = ""  # what the errors were measured on

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def instructions(self) -> int | None:
        measured = [layer.instructions for layer in self.layers]
        return None if None in measured else sum(measured)

    def to_json(self) -> dict:
        layers = [{**asdict(layer), "instructions_per_mac": layer.instructions_per_mac}
                  for layer in self.layers]
        energy = None if self.energy is None else {**asdict(self.energy), "estimate": True}
        return {"model": self.model, "name": self.name, "target": self.target,
                "layers": layers, "macs": self.macs, "arena_bytes": self.arena_bytes,
                "weights_bytes": self.weights_bytes, "instructions": self.instructions,
                "energy": energy, "errors": [asdict(e) for e in self.errors],
                "error_inputs": self.error_inputs}


def analyze(model: str | os.PathLike | Graph, target: str | None = None,
            name: str | None = None, error_inputs: int | np.ndarray | str = 0,
            seed: int = 0) -> Analysis:
    """The per-layer costs of ``model``'s generated code on ``target`` (a board name or
    board.toml path) or, without one, in a build without target-specific kernels; with
    ``error_inputs`` (a count of seeded random inputs, an input batch, or a dataset as
    ``--calib`` takes it) each layer's int8 error against float too (layer_error.py)."""
    from edgekd.verify.host import load_graph

    graph, _ = load_graph(model)
    name = model_identifier(name) if name else default_model_name(model)
    generated = generate_model(graph, name)
    board = load_board(target) if target else None
    if board is None:  # the build without target-specific kernels: the host's
        holds = set()
        present = [w for w in generated.weights if w.neutral]
    else:
        holds = _conditions_that_hold(board, {c.guard for layer in generated.layers
                                              for c in layer.calls if c.guard}
                                      | {w.guard for w in generated.weights if w.guard}
                                      | {"EKD_HAVE_DSP"})
        present = [w for w in generated.weights if w.guard is None or w.guard in holds]
    weight_bytes = _weight_bytes_per_layer(generated.layers, present)
    live = live_arena_bytes(generated.plan)
    ticks = _profile_ticks(generated, board) if board else None
    layers = [LayerCost(
        index=layer.index, op=layer.op, name=layer.name, kernel=_chosen_kernel(layer, holds),
        macs=layer.macs, weight_bytes=weight_bytes.get(layer.index, 0),
        live_bytes=live[layer.index] if layer.index < len(live) else 0,
        instructions=None if ticks is None
        else round(ticks.get(layer.index, 0) * board.instructions_per_tick))
        for layer in generated.layers]
    dsp = board is not None and "EKD_HAVE_DSP" in holds
    analysis = Analysis(
        model=str(model) if not isinstance(model, Graph) else graph.name, name=name,
        target=board.name if board else "host", layers=layers,
        arena_bytes=generated.plan.arena_bytes if dsp else generated.portable_arena_bytes,
        weights_bytes=sum(w.nbytes for w in present))
    if isinstance(error_inputs, (np.ndarray, str)) or error_inputs:
        analysis = _with_errors(analysis, graph, error_inputs, seed)
    figure = energy_figure(board) if board else None
    if figure is not None and analysis.instructions is not None:
        pj, source = figure
        analysis = dataclasses.replace(analysis, energy=EnergyEstimate(
            pj, source, analysis.instructions * pj / 1e6))
    return analysis


def _with_errors(analysis: Analysis, graph: Graph, inputs: int | np.ndarray | str,
                 seed: int) -> Analysis:
    from edgekd.layer_error import dataset_inputs, layer_errors
    from edgekd.verify.host import _input_batch

    if len(graph.inputs) != 1:
        raise EdgeKDError(f"{analysis.model}: the per-layer error needs a one-input model")
    if isinstance(inputs, str):
        samples = dataset_inputs(graph, inputs)
        described = f"{len(samples)} samples of {inputs}"
    else:
        samples = _input_batch(graph, inputs, seed)
        described = (f"{len(samples)} inputs given" if isinstance(inputs, np.ndarray)
                     else f"{len(samples)} seeded random inputs (uniform over the input's "
                          "range)")
    return dataclasses.replace(analysis, errors=layer_errors(graph, samples),
                               error_inputs=described)


def _chosen_kernel(layer: LayerCode, holds: set[str]) -> str:
    """The kernel the layer runs: the first of its ``#if`` chain whose condition holds."""
    if not layer.calls:
        return layer.kernel or "-"
    return next((c.kernel for c in layer.calls if c.guard is None or c.guard in holds),
                layer.calls[-1].kernel)


def _weight_bytes_per_layer(layers: list[LayerCode], present) -> dict[int, int]:
    """Bytes of the constant arrays each layer reads. A layer's arrays share the prefix of
    the symbols it names (``consts`` and its kernels' filter and bias); each array goes to
    the layer with the longest such prefix of its symbol."""
    prefixes = {}
    for layer in layers:
        texts = [*layer.consts.values(), *(t for c in layer.calls for t in (c.filter, c.bias))]
        symbols = [found[-1] for found in map(_IDENTIFIER.findall, texts)  # drop a cast
                   if found and found[-1] != "NULL"]
        if symbols:
            prefixes[layer.index] = os.path.commonprefix(symbols)
    totals: dict[int, int] = {}
    for array in present:
        owner = max(((len(p), i) for i, p in prefixes.items() if p and
                     array.symbol.startswith(p)), default=None)
        if owner is not None:
            totals[owner[1]] = totals.get(owner[1], 0) + array.nbytes
    return totals


def _conditions_that_hold(board: Board, conditions: set[str]) -> set[str]:
    """The C conditions (e.g. ``EKD_HAVE_DSP``, ``!EKD_HAVE_MVE && EKD_HAVE_DSP``) true for
    the board's compiler and flags, asked of its preprocessor through the runtime header."""
    ordered = sorted(conditions)
    board.require_tools()
    probe = '#include "edgekd/ekd.h"\n' + "".join(
        f"#if {condition}\nekd_condition_holds_{k}\n#endif\n"
        for k, condition in enumerate(ordered))
    result = subprocess.run(
        [board.cc, *board.compile_flags(), f"-I{RUNTIME_INCLUDE}", "-E", "-P", "-x", "c", "-"],
        input=probe, capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolchainError(f"board {board.name}: {board.cc} cannot preprocess the runtime "
                             f"header: {result.stderr.strip()[:300]}")
    tokens = set(result.stdout.split())
    return {c for k, c in enumerate(ordered) if f"ekd_condition_holds_{k}" in tokens}


def _profile_ticks(generated: GeneratedModel, board: Board) -> dict[int, int]:
    """Counter ticks of each layer in one inference on the board."""
    from edgekd.verify.firmware import build_firmware
    from edgekd.verify.qemu import run_firmware

    name = generated.name
    with tempfile.TemporaryDirectory(prefix=f"edgekd-analyze-{name}-") as scratch:
        work = Path(scratch)
        model_dir = work / name
        write_files(generated, model_dir)
        source = model_dir / f"{name}.c"
        source.write_text(_TAP + source.read_text())
        (work / "harness.c").write_text(_HARNESS.format(name=name, NAME=name.upper(),
                                                        layers=len(generated.layers)))
        firmware = build_firmware(board, [work / "harness.c", source,
                                          model_dir / f"{name}_weights.c"],
                                  [model_dir, RUNTIME_INCLUDE], work,
                                  library_sources=runtime_sources(),
                                  library_include_dirs=[RUNTIME_INCLUDE],
                                  what=f"{name} (profiling)", progress=None)
        run = run_firmware(firmware, _PROFILE_TIMEOUT_S, what=f"{name} (profiling)",
                           progress=None)
    return {int(r["index"]): int(r["ticks"]) for r in run.records("layer")}


def energy_figure(board: Board) -> tuple[float, str] | None:
    """(picojoules per cycle, source) from the board's ``[energy]`` table, if it has one."""
    data = tomllib.loads((board.directory / "board.toml").read_text())
    energy = data.get("energy")
    if energy is None:
        return None
    pj, source = energy.get("picojoules_per_cycle"), energy.get("source")
    if not isinstance(pj, (int, float)) or pj <= 0 or not isinstance(source, str):
        raise EdgeKDError(f"{board.directory / 'board.toml'}: [energy] needs a positive "
                          "picojoules_per_cycle and a source")
    return float(pj), source


def format_analysis(analysis: Analysis) -> str:
    """The per-layer table and the totals, for people."""
    measured = analysis.instructions is not None
    header = ["#", "op", "kernel", "MACs", "weights B", "live B"]
    if measured:
        header += ["instructions", "/MAC", "share"]
    rows = [header]
    total_instructions = analysis.instructions or 0
    for layer in analysis.layers:
        row = [str(layer.index), layer.op, layer.kernel, f"{layer.macs:,}",
               f"{layer.weight_bytes:,}", f"{layer.live_bytes:,}"]
        if measured:
            per_mac = layer.instructions_per_mac
            row += [f"{layer.instructions:,}", f"{per_mac:.2f}" if per_mac else "-",
                    f"{layer.instructions / total_instructions:.1%}"
                    if total_instructions else "-"]
        rows.append(row)
    lines = _columns(rows, left={1, 2})
    where = (f"on {analysis.target} (measured under QEMU -icount)" if measured
             else "portable kernels (no --target: nothing measured)")
    lines.insert(0, f"{analysis.name}: {len(analysis.layers)} layers, {where}")
    lines.append(f"total: {analysis.macs:,} MACs; weights {analysis.weights_bytes:,} bytes "
                 f"(flash); arena {analysis.arena_bytes:,} bytes (RAM, peak live "
                 f"{max((l.live_bytes for l in analysis.layers), default=0):,})"
                 + (f"; {total_instructions:,} instructions"
                    f" ({total_instructions / analysis.macs:.2f}/MAC)"
                    if measured and analysis.macs else ""))
    if analysis.energy is not None:
        e = analysis.energy
        lines.append(f"energy ESTIMATE (not measured): {e.microjoules:,.1f} uJ per inference "
                     f"= {total_instructions:,} instructions x {e.picojoules_per_cycle:g} "
                     f"pJ/cycle, one instruction per cycle assumed; figure: {e.source} "
                     "(docs/boards.md)")
    elif measured:
        lines.append(f"energy: no per-cycle figure for {analysis.target} (docs/boards.md)")
    if analysis.errors:
        lines.append(f"int8 against float over {analysis.error_inputs} (weights as quantized): "
                     "SQNR, cosine, MSE of each op on the same real inputs (its own error); "
                     "so far: against a float run of the graph up to it")
        rows = [["node", "op", "output", "SQNR dB", "cosine", "MSE", "so far dB"]]
        for e in analysis.errors:
            rows.append([str(e.node), e.op, e.output if len(e.output) <= 40
                         else e.output[:37] + "...", _db(e.sqnr_db),
                         "-" if e.cosine is None else f"{e.cosine:.5f}", f"{e.mse:.3g}",
                         _db(e.accumulated_sqnr_db)])
        lines += _columns(rows, left={1, 2})
    return "\n".join(lines)


def _db(value: float | None) -> str:
    return "exact" if value is None else f"{value:.1f}"


def _columns(rows: list[list[str]], left: set[int]) -> list[str]:
    """Rows of cells aligned in columns: those in ``left`` to the left, others right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i in left else c.rjust(w)
                      for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
