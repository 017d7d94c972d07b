"""Tests of edgekd/verify/boards.py and the boards/ folder: board.toml loading, the linker
scripts agreeing with board.toml, `edgekd boards`, and each board's instruction counter
measured against loops of known length under QEMU."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from edgekd.cli import main
from edgekd.errors import EdgeKDError
from edgekd.verify.boards import BOARDS_DIR, board_names, list_boards, load_board
from edgekd.verify.qemu import measure_counter

EXPECTED_BOARDS = ["microbit", "mps2-an385", "mps2-an386", "mps2-an500", "mps3-an547", "rv32"]


def installed_board(name: str):
    """The board, or skip when its compiler, C library or QEMU is missing here."""
    board = load_board(name)
    if board.missing_tools():
        pytest.skip(f"{name}: {', '.join(board.missing_tools())} not installed "
                    f"(scripts/system-packages.sh)")
    return board


def test_every_board_folder_loads():
    boards = list_boards()
    assert [b.name for b in boards] == EXPECTED_BOARDS
    for board in boards:
        assert board.directory == BOARDS_DIR / board.name
        assert board.arch in ("arm", "riscv")
        assert board.libc in ("picolibc", "newlib")
        assert board.stack_size % 8 == 0 and 0 < board.stack_size < board.ram_size
        assert board.instructions_per_tick >= 1
        assert all(source.is_file() for source in board.sources)


def test_microbit_is_the_small_board():
    board = load_board("microbit")
    assert (board.core, board.flash_size, board.ram_size) == ("Cortex-M0", 256 * 1024, 16 * 1024)
    assert board.optimize == "-Os"


def _memory_regions(linker_script) -> dict[str, tuple[int, int]]:
    """{region: (origin, length)} of a MEMORY block with K/M suffixes."""
    units = {"": 1, "K": 1024, "M": 1024 * 1024}
    regions = {}
    for name, origin, length, unit in re.findall(
            r"^\s*(\w+)\s*\([rwx]+\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+),\s*"
            r"LENGTH\s*=\s*(\d+)([KM]?)", linker_script.read_text(), re.M):
        regions[name] = (int(origin, 16), int(length) * units[unit])
    return regions


@pytest.mark.parametrize("name", EXPECTED_BOARDS)
def test_linker_script_matches_board_toml(name):
    board = load_board(name)
    regions = _memory_regions(board.linker_script)
    assert regions == {"FLASH": (board.flash_base, board.flash_size),
                       "RAM": (board.ram_base, board.ram_size)}


def test_unknown_board_names_the_known_ones():
    with pytest.raises(EdgeKDError, match=r"unknown board 'mps9'.*microbit.*rv32"):
        load_board("mps9")


def copy_of_board(name: str, tmp_path):
    """boards/<name> copied to a scratch folder: (its board.toml, that file's text)."""
    folder = tmp_path / name
    shutil.copytree(BOARDS_DIR / name, folder)
    return folder / "board.toml", (folder / "board.toml").read_text()


def test_malformed_board_toml_names_file_and_field(tmp_path):
    broken, text = copy_of_board("rv32", tmp_path)
    broken.write_text(text.replace("stack_size = 16384\n", ""))
    with pytest.raises(EdgeKDError, match=r"board\.toml: missing memory\.stack_size"):
        load_board(broken)
    broken.write_text(text.replace('libc = "picolibc"', 'libc = "glibc"'))
    with pytest.raises(EdgeKDError, match=r"toolchain\.libc 'glibc'"):
        load_board(broken.parent)


def test_missing_tools_are_named(tmp_path):
    toml, text = copy_of_board("rv32", tmp_path)
    toml.write_text(text.replace('binary = "qemu-system-riscv32"',
                                 'binary = "qemu-system-nonesuch"'))
    board = load_board(toml)
    assert "qemu-system-nonesuch" in board.missing_tools()
    assert not board.emulator_installed()
    with pytest.raises(EdgeKDError, match="qemu-system-nonesuch not installed.*qemu-system-misc"):
        board.require_tools()


def test_boards_command_lists_every_board(capsys):
    assert main(["boards", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in listed] == board_names()
    microbit = next(b for b in listed if b["name"] == "microbit")
    assert microbit["ram_bytes"] == 16384 and microbit["flash_bytes"] == 262144
    assert {"toolchain_installed", "emulator_installed", "core"} <= set(microbit)

    assert main(["boards"]) == 0
    table = capsys.readouterr().out
    assert "mps3-an547" in table and "Cortex-M55" in table and "16 KiB" in table


# Loop lengths of boards/common/counter_check.c: 2 instructions per iteration.
INSTRUCTIONS_PER_ITERATION = 2
# Instructions inside a timed interval besides the loop: the counter reads and the call.
MAX_READ_OVERHEAD = 24


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED_BOARDS)
def test_instruction_counter_counts_a_known_loop(name, tmp_path):
    board = installed_board(name)
    counts = measure_counter(board, workdir=tmp_path, progress=None)
    assert [iterations for iterations, _ in counts] == [1, 1001, 100001, 1000001]
    resolution = board.counter_resolution
    for iterations, counted in counts:
        exact = INSTRUCTIONS_PER_ITERATION * iterations
        # Quantization to whole ticks loses less than one tick; the reads add a few.
        assert -resolution <= counted - exact <= MAX_READ_OVERHEAD + resolution, (iterations,
                                                                                 counted)
    for (n0, c0), (n1, c1) in zip(counts, counts[1:]):
        assert abs((c1 - c0) - INSTRUCTIONS_PER_ITERATION * (n1 - n0)) <= 2 * resolution
    if board.instructions_per_tick == 1:
        # An exact counter: every interval is the loop plus the same fixed overhead.
        assert len({counted - INSTRUCTIONS_PER_ITERATION * n for n, counted in counts}) == 1
