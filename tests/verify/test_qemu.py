"""Tests of edgekd/verify/qemu.py: a handwritten C model with the generated code's API runs
bit-exact on every board; wrong outputs, faults, hangs, stack overflows, error statuses
and models too big for a board are reported, never passed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekd.errors import BoardFitError, EdgeKDError, VerificationError
from edgekd.verify import qemu
from edgekd.verify.boards import COMMON_DIR, load_board
from edgekd.verify.firmware import build_firmware, elf_sizes
from edgekd.verify.qemu import (
    _c_initializer_lines, render_harness, run_firmware, verify_on_board,
)

ALL_BOARDS = ["microbit", "mps2-an385", "mps2-an386", "mps2-an500", "mps3-an547", "rv32"]

# The tiny model: out[j] = saturate_int8((bias[j] + sum_i in[i] * w[j][i] + 32) >> 6), with
# the int32 accumulators kept in the arena as generated models keep their activations.
TINY_WEIGHTS = np.array([
    list(range(1, 17)),
    [-v for v in range(1, 17)],
    [127, -128, 1] + [0] * 12 + [5],
    [3] * 16,
], dtype=np.int8)
TINY_BIAS = np.array([100, -100, 0, 7], dtype=np.int32)

TINY_HEADER = """\
#ifndef TINY_H
#define TINY_H
#include <stdint.h>
#define TINY_ARENA_SIZE {arena_bytes}
#define TINY_ARENA_ALIGN 8
#define TINY_INPUT_SIZE 16   /* elements */
#define TINY_OUTPUT_SIZE 4   /* elements */
typedef struct {{ int8_t data[TINY_INPUT_SIZE]; }} tiny_input_t;
typedef struct {{ int8_t data[TINY_OUTPUT_SIZE]; }} tiny_output_t;
int tiny_invoke(const tiny_input_t *input, tiny_output_t *output, uint8_t *arena);
#endif
"""

TINY_SOURCE = """\
#include "tiny.h"
extern const int8_t tiny_weights[TINY_OUTPUT_SIZE][TINY_INPUT_SIZE];
extern const int32_t tiny_bias[TINY_OUTPUT_SIZE];

int tiny_invoke(const tiny_input_t *input, tiny_output_t *output, uint8_t *arena)
{{
    int32_t *acc = (int32_t *)(void *)arena;
#if {stack_bytes} > 0
    volatile uint8_t deep[{stack_bytes}]; /* a model that needs a deep stack */
    for (int i = 0; i < {stack_bytes}; i++) deep[i] = (uint8_t)i;
#endif
    for (int j = 0; j < TINY_OUTPUT_SIZE; j++) {{
        acc[j] = tiny_bias[j];
        for (int i = 0; i < TINY_INPUT_SIZE; i++) {{
            acc[j] += (int32_t)input->data[i] * tiny_weights[j][i];
        }}
    }}
    for (int j = 0; j < TINY_OUTPUT_SIZE; j++) {{
        int32_t v = (acc[j] + 32) >> 6;
        output->data[j] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
    }}
    return input->data[0] == -128 ? {status_on_minus_128} : 0;
}}
"""


def write_tiny_model(directory: Path, arena_bytes: int = 16, stack_bytes: int = 0,
                     status_on_minus_128: int = 0) -> Path:
    """The tiny model's tiny.h, tiny.c and tiny_weights.c in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tiny.h").write_text(TINY_HEADER.format(arena_bytes=arena_bytes))
    (directory / "tiny.c").write_text(TINY_SOURCE.format(
        stack_bytes=stack_bytes, status_on_minus_128=status_on_minus_128))
    rows = ",\n".join("    {" + ", ".join(map(str, row)) + "}" for row in TINY_WEIGHTS)
    (directory / "tiny_weights.c").write_text(
        '#include "tiny.h"\n'
        f"const int8_t tiny_weights[TINY_OUTPUT_SIZE][TINY_INPUT_SIZE] = {{\n{rows}\n}};\n"
        f"const int32_t tiny_bias[TINY_OUTPUT_SIZE] = "
        f"{{{', '.join(map(str, TINY_BIAS))}}};\n")
    return directory


def tiny_reference(inputs: np.ndarray) -> np.ndarray:
    """The tiny model in numpy, written independently of its C."""
    acc = inputs.astype(np.int64) @ TINY_WEIGHTS.T.astype(np.int64) + TINY_BIAS
    return np.clip((acc + 32) >> 6, -128, 127).astype(np.int8)


def tiny_inputs(count: int, seed: int = 0) -> np.ndarray:
    inputs = np.random.default_rng(seed).integers(-128, 128, (count, 16), dtype=np.int8)
    inputs[inputs == -128] = -127  # -128 in element 0 is the error-status trigger
    inputs[0] = 127  # saturates rows 0 and 2 upwards, row 1 downwards
    return inputs


def installed_board(name: str):
    board = load_board(name)
    if board.missing_tools():
        pytest.skip(f"{name}: {', '.join(board.missing_tools())} not installed")
    return board


def test_tiny_reference_saturates_both_ways():
    expected = tiny_reference(tiny_inputs(8))
    assert expected.max() == 127 and expected.min() == -128


def test_harness_holds_the_inputs_exactly():
    inputs = tiny_inputs(3)
    text = render_harness(load_board("rv32"), "tiny", inputs, tiny_reference(inputs))
    assert "#define NUM_INFERENCES 3u" in text
    assert "== 16u" in text and "== 4u" in text  # the static size checks
    first = ", ".join(map(str, inputs[0]))
    assert first.replace(", ", ",") in text.replace(", ", ",").replace("\n        ", "")


def test_float_inputs_become_exact_hex_literals():
    values = np.array([0.5, -1.25, 1e-30, np.float32(0.1)], dtype=np.float32)
    [line] = _c_initializer_lines(values)
    literals = [item.strip() for item in line.rstrip(",").split(",")]
    assert literals[0] == "0x1.0000000000000p-1f" and literals[1] == "-0x1.4000000000000p+0f"
    assert [np.float32(float.fromhex(x[:-1])) for x in literals] == list(values)


def test_input_size_must_match_the_model(tmp_path):
    model = write_tiny_model(tmp_path / "model")
    inputs = np.zeros((2, 15), dtype=np.int8)
    with pytest.raises(EdgeKDError, match=r"tiny\.h: model tiny takes 16 input elements.*15"):
        verify_on_board("rv32", model, "tiny", inputs, np.zeros((2, 4), np.int8))
    with pytest.raises(EdgeKDError, match="2 input vectors but 3 expected outputs"):
        verify_on_board("rv32", model, "tiny", np.zeros((2, 16), np.int8),
                        np.zeros((3, 4), np.int8))


def test_model_too_big_for_microbit_fails_before_running(tmp_path, monkeypatch):
    board = installed_board("microbit")
    model = write_tiny_model(tmp_path / "model", arena_bytes=20000)

    def must_not_run(*args, **kwargs):
        raise AssertionError("QEMU started for a firmware that does not fit")

    monkeypatch.setattr(qemu, "run_firmware", must_not_run)
    inputs = tiny_inputs(2)
    with pytest.raises(BoardFitError) as caught:
        verify_on_board(board, model, "tiny", inputs, tiny_reference(inputs),
                        workdir=tmp_path / "build", progress=None)
    message = str(caught.value)
    assert "model tiny does not fit microbit" in message
    assert "bytes of RAM" in message and "arena 20000" in message and "16384" in message
    needed = int(message.split("needs ")[1].split(" bytes")[0])
    assert needed > 20000 + board.stack_size


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_BOARDS)
def test_tiny_model_is_bit_exact_on_every_board(name, tmp_path):
    board = installed_board(name)
    model = write_tiny_model(tmp_path / "model")
    inputs = tiny_inputs(6)
    expected = tiny_reference(inputs)
    result = verify_on_board(board, model, "tiny", inputs, expected,
                             timeout_s=60, workdir=tmp_path / "build", progress=None)
    assert result.passed and result.mismatches == ()
    assert np.array_equal(result.outputs, expected)
    assert result.outputs.dtype == np.int8 and result.outputs.shape == expected.shape
    # 64 multiply-accumulates plus loads, clamps and the call: hundreds of instructions.
    assert len(result.instructions) == 6
    assert 150 <= result.instructions_min <= result.instructions_max <= 2000
    assert result.instruction_error == board.counter_resolution
    assert 0 < result.stack_bytes < board.stack_size
    assert result.ram_bytes >= result.arena_bytes + result.stack_bytes
    firmware_flash = elf_sizes(tmp_path / "build" / "firmware.elf").flash_bytes
    assert result.flash_bytes == firmware_flash - inputs.nbytes  # test vectors not counted
    assert result.to_json()["bit_exact"] is True


@pytest.mark.slow
def test_a_wrong_expected_byte_is_a_mismatch(tmp_path):
    board = installed_board("mps2-an386")
    model = write_tiny_model(tmp_path / "model")
    inputs = tiny_inputs(4)
    expected = tiny_reference(inputs)
    expected[2, 3] ^= 1
    result = verify_on_board(board, model, "tiny", inputs, expected,
                             timeout_s=60, workdir=tmp_path / "build", progress=None)
    assert not result.passed and result.mismatches == (2,)
    assert "inference 2, element 3" in result.mismatch_report()
    assert result.outputs[2, 3] == expected[2, 3] ^ 1


@pytest.mark.slow
def test_an_error_status_from_the_model_is_reported(tmp_path):
    board = installed_board("rv32")
    model = write_tiny_model(tmp_path / "model", status_on_minus_128=-2)
    inputs = tiny_inputs(3)
    inputs[1, 0] = -128
    with pytest.raises(VerificationError, match=r"tiny_invoke returned status -2 on inference 1"):
        verify_on_board(board, model, "tiny", inputs, tiny_reference(inputs),
                        timeout_s=60, workdir=tmp_path / "build", progress=None)


@pytest.mark.slow
def test_a_stack_overflow_is_reported(tmp_path):
    board = installed_board("microbit")
    model = write_tiny_model(tmp_path / "model", stack_bytes=board.stack_size + 512)
    inputs = tiny_inputs(2)
    with pytest.raises(VerificationError, match="stack overflow"):
        verify_on_board(board, model, "tiny", inputs, tiny_reference(inputs),
                        timeout_s=60, workdir=tmp_path / "build", progress=None)


FAULTY_FIRMWARE = {
    "null_call": """
        #include "ekd_board.h"
        void (*volatile target)(void) = 0;
        int main(void) { target(); return EKD_EXIT_PASS; }
    """,
    "undefined_instruction": """
        #include "ekd_board.h"
        int main(void)
        {
        #if defined(__riscv)
            __asm volatile(".word 0");  /* all-zero: defined as illegal */
        #else
            __asm volatile("udf #0");
        #endif
            return EKD_EXIT_PASS;
        }
    """,
    "hang": """
        #include "ekd_board.h"
        int main(void) { ekd_print("spinning\\n"); for (;;) { __asm volatile(""); } }
    """,
}
FAULT_NAMES = {"arm": ("HardFault", "HardFault"),
               "riscv": ("InstructionAccessFault", "IllegalInstruction")}


def build_faulty(board, kind: str, tmp_path: Path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = tmp_path / f"{kind}.c"
    source.write_text(FAULTY_FIRMWARE[kind])
    return build_firmware(board, [source], [COMMON_DIR], tmp_path / "build", progress=None)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["microbit", "mps2-an386", "rv32"])
def test_a_fault_is_reported_with_pc_and_caller(name, tmp_path):
    board = installed_board(name)
    call_fault, instruction_fault = FAULT_NAMES[board.arch]
    with pytest.raises(VerificationError,
                       match=rf"{call_fault} at pc=0x00000000, called from main"):
        run_firmware(build_faulty(board, "null_call", tmp_path), 20, progress=None)
    with pytest.raises(VerificationError, match=rf"{instruction_fault} at pc=0x[0-9a-f]+ in main"):
        run_firmware(build_faulty(board, "undefined_instruction", tmp_path / "u"), 20,
                     progress=None)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mps3-an547", "rv32"])
def test_a_hang_is_reported_as_a_timeout(name, tmp_path):
    board = installed_board(name)
    firmware = build_faulty(board, "hang", tmp_path)
    with pytest.raises(VerificationError, match=r"no result after 2\.5 s.*hangs.*spinning"):
        run_firmware(firmware, 2.5, progress=None)
