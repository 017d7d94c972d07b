"""Run generated models on emulated microcontrollers (QEMU) and check them bit-exact.

``verify_on_board`` writes a harness (``boards/common/harness.c.j2``) that holds the input
vectors as constant arrays, builds it with the model's C files and the runtime for one
board, checks that it fits the board, runs it under QEMU with ``-icount shift=0`` (one
virtual nanosecond per instruction, so a board timer counts instructions) and compares
each output, byte for byte, with the expected one. A hang (timeout) or a fault (the
board's fault handler reports the exception and the faulting PC) is a VerificationError,
never a pass.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from edgekd.errors import EdgeKDError, VerificationError
from edgekd.verify.boards import COMMON_DIR, Board, load_board
from edgekd.verify.cffi_build import RUNTIME_INCLUDE, runtime_sources
from edgekd.verify.firmware import (
    Firmware, Progress, build_firmware, stderr_progress, symbolize,
)

EXIT_PASS = 0  # EKD_EXIT_PASS of boards/common/ekd_board.h
CONSOLE_FILE = "ekd_console.txt"  # EKD_CONSOLE_FILE of boards/common/cortexm_semihosting.c

_FAULT_LINE = re.compile(r"^ekd:fault (\S+)(.*)$", re.M)
_LOCKUP = re.compile(r"qemu: fatal: Lockup.*?R13=([0-9a-fA-F]+)", re.S)
_FIELD = re.compile(r"(\w+)=(\S*)")


@dataclass(frozen=True)
class QemuRun:
    """What one successful QEMU run printed."""

    board: str
    console: str  # everything the firmware and QEMU printed, in order
    seconds: float  # wall-clock time of the run

    def records(self, kind: str) -> list[dict[str, str]]:
        """The ``key=value`` fields of each ``ekd:<kind>`` line, in order."""
        tag = f"ekd:{kind}"
        return [dict(_FIELD.findall(line[len(tag):]))
                for line in self.console.splitlines()
                if line == tag or line.startswith(tag + " ")]


def run_firmware(firmware: Firmware, timeout_s: float, *, what: str = "firmware",
                 progress: Progress | None = stderr_progress) -> QemuRun:
    """Runs a firmware image under QEMU until it exits.

    Raises VerificationError when it does not exit within ``timeout_s`` seconds (a hang),
    when its fault handler reports a fault (naming the exception, the faulting PC and its
    function) or when QEMU exits with another non-zero status.
    """
    board = firmware.board
    command = board.qemu_command(Path(firmware.elf).resolve())
    if progress:
        progress(f"{board.name}: running {what} on QEMU {board.qemu_machine} "
                 f"(timeout {timeout_s:.1f} s)")
    started = time.monotonic()
    # QEMU runs in a folder of its own: a board with Arm semihosting writes its console to
    # a file there (boards/common/cortexm_semihosting.c), read whole after QEMU exits, so
    # that no record is lost however slowly this process reads QEMU's output.
    with tempfile.TemporaryDirectory(prefix="edgekd-qemu-") as workdir:
        console_file = Path(workdir) / CONSOLE_FILE
        try:
            # subprocess.run kills QEMU (its direct child) when the timeout expires.
            result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, timeout=timeout_s,
                                    check=False, cwd=workdir)
        except subprocess.TimeoutExpired as expired:
            console = _console(console_file, expired.output or b"")
            raise VerificationError(
                f"{what} on {board.name}: no result after {timeout_s:.1f} s: the firmware "
                f"hangs (or needs a longer timeout); last output: {_tail(console)}") from None
        except OSError as error:
            raise EdgeKDError(f"{board.name}: cannot run {command[0]}: {error}") from None
        seconds = time.monotonic() - started
        console = _console(console_file, result.stdout)
    fault = _FAULT_LINE.search(console)
    if fault:
        raise VerificationError(f"{what} on {board.name}: {_describe_fault(firmware, fault)}")
    lockup = _LOCKUP.search(console)
    if lockup:
        # QEMU stops an Arm core that faults inside its fault handler.
        raise VerificationError(
            f"{what} on {board.name}: the core locked up (a fault while handling a fault) "
            f"with sp=0x{lockup.group(1)}; last output: {_tail(console.split('qemu:')[0])}")
    if result.returncode != EXIT_PASS:
        raise VerificationError(f"{what} on {board.name}: QEMU exited with status "
                                f"{result.returncode}; last output: {_tail(console)}")
    return QemuRun(board.name, console, seconds)


def _console(console_file: Path, qemu_output: bytes) -> str:
    """What the firmware wrote to its console file (if it has one), then what QEMU
    printed (the firmware's console on other boards, and QEMU's own messages)."""
    text = qemu_output.decode("utf-8", "replace")
    if console_file.is_file():
        text = console_file.read_text("utf-8", "replace") + "\n" + text
    return text


def _describe_fault(firmware: Firmware, fault: re.Match) -> str:
    """The fault handler's report, with the faulting PC (and the caller, from lr or ra)
    turned into function names."""
    exception, details = fault.group(1), fault.group(2).strip()
    fields = dict(_FIELD.findall(details))
    board = firmware.board
    if exception == "StackOverflow":
        return (f"stack overflow: {fields.get('exception', 'a fault')} with sp={fields['sp']}, "
                f"below the stack's limit {fields['limit']}; the board reserves "
                f"{board.stack_size} bytes of stack (board.toml memory.stack_size)")
    pc = int(fields["pc"], 16)
    text = f"{exception} at pc={pc:#010x}"
    where = symbolize(board, firmware.elf, pc)
    if where:
        text += f" in {where}"
    caller = fields.get("lr") or fields.get("ra")
    called_from = symbolize(board, firmware.elf, int(caller, 16) & ~1) if caller else None
    if called_from:
        text += f", called from {called_from}"
    return f"{text} ({details})"


@dataclass(frozen=True)
class BoardResult:
    """A model run on an emulated board: counts, memory and whether outputs matched.

    Instruction counts carry the board counter's error: up to ``instruction_error``
    instructions either way (board.toml's counter.instructions_per_tick, rounded up).
    """

    board: str
    model: str
    instructions: tuple[int, ...]  # per inference
    instruction_error: int
    flash_bytes: int  # code + constants + initialised data, without the test input vectors
    ram_bytes: int  # .data + .bss (with the arena) + measured stack high-water mark
    stack_bytes: int  # measured stack high-water mark
    arena_bytes: int
    mismatches: tuple[int, ...]  # indices of inferences whose output bytes differ
    outputs: np.ndarray  # what the board computed, shaped like the expected outputs
    expected: np.ndarray
    seconds: float  # wall-clock time of the QEMU run

    @property
    def passed(self) -> bool:
        return not self.mismatches

    @property
    def instructions_min(self) -> int:
        return min(self.instructions)

    @property
    def instructions_max(self) -> int:
        return max(self.instructions)

    @property
    def instructions_mean(self) -> float:
        return float(np.mean(self.instructions))

    def mismatch_report(self) -> str:
        """One line on the first mismatching inference, or '' when all outputs match."""
        if not self.mismatches:
            return ""
        index = self.mismatches[0]
        got = self.outputs[index].reshape(-1)
        want = self.expected[index].reshape(-1)
        element = int(np.flatnonzero(got != want)[0])
        return (f"{self.model} on {self.board}: {len(self.mismatches)} of "
                f"{len(self.outputs)} outputs differ from the reference; first: inference "
                f"{index}, element {element}: got {got[element]}, expected {want[element]}")

    def to_json(self) -> dict:
        return {
            "board": self.board,
            "model": self.model,
            "inferences": len(self.instructions),
            "instructions": {"min": self.instructions_min, "max": self.instructions_max,
                             "mean": self.instructions_mean,
                             "error": self.instruction_error},
            "flash_bytes": self.flash_bytes,
            "ram_bytes": self.ram_bytes,
            "stack_bytes": self.stack_bytes,
            "arena_bytes": self.arena_bytes,
            "bit_exact": self.passed,
            "mismatches": list(self.mismatches),
            "seconds": round(self.seconds, 3),
        }


def verify_on_board(board: Board | str, model_dir: str | Path, name: str,
                    inputs: np.ndarray, expected: np.ndarray, timeout_s: float = 300.0,
                    *, workdir: str | Path | None = None,
                    progress: Progress | None = stderr_progress) -> BoardResult:
    """Runs the generated model ``name`` in ``model_dir`` on ``board`` for every input
    vector and compares its outputs with ``expected``, byte for byte.

    ``inputs``: (N, ...) with the model's input dtype; ``expected``: (N, ...) with its
    output dtype. Build products go to ``workdir`` (kept) or a temporary folder.
    Raises BoardFitError before running when the firmware does not fit the board,
    VerificationError on a hang, a fault, a stack overflow or a non-zero status from
    the model, ToolchainError when the board's tools are missing or the C does not build.
    Output mismatches do not raise: they are in ``BoardResult.mismatches``.
    """
    board = load_board(board) if isinstance(board, str) else board
    model_dir = Path(model_dir)
    inputs = np.asarray(inputs)
    expected = np.asarray(expected)
    sources, arena_bytes = _model_sources(model_dir, name, inputs, expected)
    what = f"model {name}"
    with tempfile.TemporaryDirectory(prefix=f"edgekd-{board.name}-") as scratch:
        build_dir = Path(workdir) if workdir is not None else Path(scratch)
        build_dir.mkdir(parents=True, exist_ok=True)
        harness = build_dir / "harness.c"
        harness.write_text(render_harness(board, name, inputs, expected))
        firmware = build_firmware(board, [harness, *sources], [model_dir, RUNTIME_INCLUDE],
                                  build_dir, library_sources=runtime_sources(),
                                  library_include_dirs=[RUNTIME_INCLUDE], what=what,
                                  arena_bytes=arena_bytes, test_input_bytes=inputs.nbytes,
                                  progress=progress)
        run = run_firmware(firmware, timeout_s, what=what, progress=progress)
    result = _board_result(board, name, firmware, run, expected, arena_bytes, inputs.nbytes)
    if progress:
        exact = "bit-exact" if result.passed else f"{len(result.mismatches)} MISMATCHED"
        progress(f"{board.name}: {len(expected)} inferences {exact}, "
                 f"{result.instructions_mean:,.0f} instructions/inference "
                 f"(±{result.instruction_error}), {run.seconds:.1f} s")
    return result


def render_harness(board: Board, name: str, inputs: np.ndarray, expected: np.ndarray) -> str:
    """The C text of the harness that runs ``name`` on each of ``inputs``."""
    count = len(inputs)
    rows = inputs.reshape(count, -1)
    env = Environment(loader=FileSystemLoader(str(COMMON_DIR)), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env.get_template("harness.c.j2").render(
        name=name, NAME=name.upper(), board=board.name, count=count,
        input_bytes=rows[0].nbytes, output_bytes=expected.reshape(count, -1)[0].nbytes,
        inputs=[_c_initializer_lines(row) for row in rows])


def measure_counter(board: Board | str, workdir: str | Path | None = None,
                    timeout_s: float = 60.0,
                    progress: Progress | None = stderr_progress) -> list[tuple[int, int]]:
    """Runs ``boards/common/counter_check.c`` on ``board``: (iterations, counted
    instructions) for loops of exactly 2 instructions per iteration."""
    board = load_board(board) if isinstance(board, str) else board
    with tempfile.TemporaryDirectory(prefix=f"edgekd-{board.name}-") as scratch:
        build_dir = Path(workdir) if workdir is not None else Path(scratch)
        firmware = build_firmware(board, [COMMON_DIR / "counter_check.c"], [], build_dir,
                                  what="counter check", progress=progress)
        run = run_firmware(firmware, timeout_s, what="counter check", progress=progress)
    return [(int(r["iterations"]), round(int(r["ticks"]) * board.instructions_per_tick))
            for r in run.records("count")]


def _model_sources(model_dir: Path, name: str, inputs: np.ndarray,
                   expected: np.ndarray) -> tuple[list[Path], int]:
    """The model's C files and its arena size (bytes), after checking the data fits it."""
    header = model_dir / f"{name}.h"
    source = model_dir / f"{name}.c"
    for path in (header, source):
        if not path.is_file():
            raise EdgeKDError(f"{path}: not found; generate the model's C first")
    if inputs.ndim < 2 or expected.ndim < 2 or len(inputs) == 0:
        raise EdgeKDError(f"model {name}: inputs and expected outputs must be (N, ...) "
                          f"arrays with N >= 1, got shapes {inputs.shape} and {expected.shape}")
    if len(inputs) != len(expected):
        raise EdgeKDError(f"model {name}: {len(inputs)} input vectors but "
                          f"{len(expected)} expected outputs")
    macros = _header_macros(header, name.upper())
    if "ARENA_SIZE" not in macros:
        raise EdgeKDError(f"{header}: no {name.upper()}_ARENA_SIZE macro")
    for what, array in (("INPUT", inputs), ("OUTPUT", expected)):
        per_vector = array[0].size
        if f"{what}_SIZE" in macros and macros[f"{what}_SIZE"] != per_vector:
            raise EdgeKDError(
                f"{header}: model {name} takes {macros[f'{what}_SIZE']} {what.lower()} "
                f"elements per inference, the given arrays have {per_vector}")
    sources = [source]
    weights = model_dir / f"{name}_weights.c"
    if weights.is_file():
        sources.append(weights)
    return sources, macros["ARENA_SIZE"]


def _header_macros(header: Path, prefix: str) -> dict[str, int]:
    """Integer ``#define <prefix>_<KEY> <value>`` macros of a model header, by KEY."""
    pattern = re.compile(rf"^#define {re.escape(prefix)}_(\w+)\s+\(?(-?\d+)\)?\s*(?:/\*.*)?$",
                         re.M)
    return {key: int(value) for key, value in pattern.findall(header.read_text())}


def _c_initializer_lines(values: np.ndarray) -> list[str]:
    """C initialiser text for a flat array, a few values per line; floats exactly, as
    hexadecimal literals."""
    if values.dtype.kind in "iu":
        items = [str(int(v)) for v in values]
        per_line = 16
    elif values.dtype == np.float32:
        items = [_c_float(float(v)) for v in values]
        per_line = 4
    else:
        raise EdgeKDError(f"cannot put {values.dtype} inputs into a harness; "
                          "use int8, uint8, int16, int32 or float32")
    return [", ".join(items[i:i + per_line]) + ","
            for i in range(0, len(items), per_line)]


def _c_float(value: float) -> str:
    if np.isnan(value):
        return "__builtin_nanf(\"\")"
    if np.isinf(value):
        return "__builtin_inff()" if value > 0 else "-__builtin_inff()"
    return f"{value.hex()}f"


def _board_result(board: Board, name: str, firmware: Firmware, run: QemuRun,
                  expected: np.ndarray, arena_bytes: int, test_input_bytes: int) -> BoardResult:
    what = f"model {name} on {board.name}"
    records = run.records("inference")
    if not run.records("end") or len(records) != len(expected):
        raise VerificationError(f"{what}: the harness stopped after {len(records)} of "
                                f"{len(expected)} inferences; output: {_tail(run.console)}")
    failed = [r for r in records if r["status"] != "0"]
    if failed:
        raise VerificationError(f"{what}: {name}_invoke returned status {failed[0]['status']} "
                                f"on inference {failed[0]['index']}")
    # The arena this build's header asked for (it depends on the core: codegen.md).
    begin = run.records("begin")
    if begin and "arena" in begin[0]:
        arena_bytes = int(begin[0]["arena"])
    stack = run.records("stack")[0]
    stack_used, stack_size = int(stack["used"]), int(stack["size"])
    if stack_used >= stack_size:
        raise VerificationError(f"{what}: stack overflow: the {stack_size}-byte stack "
                                f"(board.toml memory.stack_size) was used to its limit")
    overhead = int(run.records("overhead")[0]["ticks"])
    instructions = tuple(
        max(0, round((int(r["ticks"]) - overhead) * board.instructions_per_tick))
        for r in records)
    dtype = expected.dtype.newbyteorder("<")  # every board is little-endian
    outputs = np.stack([np.frombuffer(bytes.fromhex(r["output"]), dtype=dtype)
                        for r in records]).astype(expected.dtype).reshape(expected.shape)
    mismatches = tuple(i for i in range(len(expected))
                       if outputs[i].tobytes() != expected[i].tobytes())
    sizes = firmware.sizes
    return BoardResult(
        board=board.name, model=name, instructions=instructions,
        instruction_error=board.counter_resolution,
        # The harness's input vectors are test data, not part of what the model costs.
        flash_bytes=sizes.flash_bytes - test_input_bytes,
        ram_bytes=sizes.static_ram_bytes + stack_used,
        stack_bytes=stack_used, arena_bytes=arena_bytes, mismatches=mismatches,
        outputs=outputs, expected=expected, seconds=run.seconds)


def _tail(console: str, lines: int = 3) -> str:
    text = " | ".join(line.strip() for line in console.strip().splitlines()[-lines:])
    return text[-400:] or "(nothing)"
