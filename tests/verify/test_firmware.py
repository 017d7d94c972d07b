"""Tests of edgekd/verify/firmware.py: ELF sizes against binutils' own `size`, the fit
check, the object cache and compiler errors. Builds only; nothing runs under QEMU."""
from __future__ import annotations

import subprocess

import pytest

from edgekd.errors import BoardFitError, ToolchainError
from edgekd.verify.boards import load_board
from edgekd.verify.firmware import ElfSizes, build_firmware, check_fit, elf_sizes

PROGRAM = """
#include "ekd_board.h"
const int table[300] = {1, 2, 3};       /* .rodata: 1200 bytes */
int counters[5] = {7, 7, 7, 7, 7};      /* .data: 20 bytes */
static unsigned char buffer[1000];      /* .bss: 1000 bytes */
int main(void)
{
    volatile int index = 299;  /* unknown at compile time: every array stays whole */
    buffer[index] = (unsigned char)table[index];
    counters[index % 5] += buffer[index - 1];
    ekd_print_u32((uint32_t)counters[4]);
    return EKD_EXIT_PASS;
}
"""


def installed_board(name: str):
    board = load_board(name)
    if board.missing_tools():
        pytest.skip(f"{name}: {', '.join(board.missing_tools())} not installed")
    return board


@pytest.fixture(autouse=True)
def private_object_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKD_CACHE", str(tmp_path / "cache"))


def build_program(board, tmp_path, text=PROGRAM):
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = tmp_path / "program.c"
    source.write_text(text)
    return build_firmware(board, [source], [], tmp_path / "build", progress=None)


def binutils_sizes(board, elf) -> dict[str, int]:
    """{section: size} of the allocated sections, as the toolchain's `size -A` reports."""
    out = subprocess.run([f"{board.tool_prefix}size", "-A", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    return {name: int(size) for name, size, _addr in (r for r in rows if len(r) == 3)}


@pytest.mark.parametrize("name", ["mps2-an386", "rv32"])
def test_elf_sizes_agree_with_binutils(name, tmp_path):
    board = installed_board(name)
    firmware = build_program(board, tmp_path)
    sections = binutils_sizes(board, firmware.elf)
    sizes = elf_sizes(firmware.elf)
    code = sections[".text"]
    constants = sections[".rodata"] + sections.get(".vectors", 0) + sections.get(".ARM.exidx", 0)
    assert (sizes.text, sizes.rodata) == (code, constants)
    assert (sizes.data, sizes.bss, sizes.stack) == (
        sections[".data"], sections[".bss"], sections[".stack"])
    assert sizes.rodata >= 1200 and sizes.data >= 20 and sizes.bss >= 1000
    assert sizes.stack == board.stack_size
    assert firmware.sizes == sizes


def test_fit_check_names_bytes_needed_and_available():
    board = load_board("microbit")
    fits = ElfSizes(text=1000, rodata=200, data=16, bss=9000, stack=2048)
    check_fit(board, fits, "model m")
    with pytest.raises(BoardFitError, match=r"model m does not fit microbit: it needs 18448 "
                                            r"bytes of RAM \(data 16 \+ bss 16384 incl\. arena "
                                            r"16000 \+ stack 2048\), the board has 16384"):
        check_fit(board, ElfSizes(1000, 200, 16, 16384, 2048), "model m", arena_bytes=16000)
    with pytest.raises(BoardFitError, match=r"needs 262145 bytes of flash .* has 262144"):
        check_fit(board, ElfSizes(262000, 129, 16, 0, 2048), "model m")


def test_linker_overflow_becomes_a_fit_error(tmp_path):
    board = installed_board("microbit")
    with pytest.raises(BoardFitError, match=r"firmware does not fit microbit: .*bytes of RAM"):
        build_program(board, tmp_path, PROGRAM.replace("buffer[1000]", "buffer[20000]"))


def test_objects_of_board_files_are_cached(tmp_path):
    board = installed_board("rv32")
    build_program(board, tmp_path / "first")
    cached = sorted((tmp_path / "cache" / "firmware").glob("*.o"))
    assert len(cached) == len(board.sources)  # the program itself is not cached
    stamps = [path.stat().st_mtime_ns for path in cached]
    second = build_program(board, tmp_path / "second")
    assert sorted((tmp_path / "cache" / "firmware").glob("*.o")) == cached
    assert [path.stat().st_mtime_ns for path in cached] == stamps
    assert second.sizes == elf_sizes(tmp_path / "first" / "build" / "firmware.elf")


def test_compile_error_names_the_file(tmp_path):
    board = installed_board("rv32")
    with pytest.raises(ToolchainError, match=r"program\.c: does not compile for rv32: .*error"):
        build_program(board, tmp_path, "int main(void) { return missing_name; }\n")
    with pytest.raises(ToolchainError, match=r"link for rv32 failed: .*undefined reference"):
        build_program(board, tmp_path, "void nowhere(void);\n"
                                       "int main(void) { nowhere(); return 0; }\n")
