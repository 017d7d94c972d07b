"""Generated C is clean under ``-std=c99 -Wall -Wextra -Wpedantic -Werror`` for every target
and every kernel choice: host gcc, Cortex-M0/M4/M55 (arm-none-eabi-gcc with each board's
flags) and RV32 (riscv64-unknown-elf-gcc), on the shared MLPerf Tiny models and on graphs
that take each branch (Helium, DSP, direct kernels, a fused residual ADD, scratch past the
plan). The portable runtime builds with clang and gcc under the same flags."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edgekd.codegen import generate
from edgekd.frontends import load_model
from edgekd.verify.boards import load_board

from ..conftest import MLPERF_MODELS, REPO, mlperf_model
from .graphs import GraphBuilder, small_cnn

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
INCLUDE = f"-I{REPO / 'runtime_c' / 'include'}"
BOARDS = ["microbit", "mps2-an386", "mps3-an547", "rv32"]  # M0, M4, M55, RV32


def residual_net():
    """A residual block, fused and on direct kernels where the arena asks (ResNet's shape)."""
    g = GraphBuilder("residual", (1, 16, 16, 16), 7)
    a = g.conv(g.input, 16)
    b = g.conv(a, 16)
    c = g.add(b, a)
    d = g.depthwise(g.conv(c, 32, kernel=(1, 1)))
    return g.build(g.fully_connected(g.reshape(g.pool(d, size=(16, 16)), (1, 32)), 10))


def math_net():
    """Every arithmetic and activation template: table activations, reductions, broadcasts
    with a constant operand, the broadcast ADD and an int32 ARG_MAX output."""
    g = GraphBuilder("math", (1, 6, 5, 8), 3)
    x = g.conv(g.input, 8)
    gate = g.unary(g.reduce(x, "MEAN", (1, 2), keep_dims=True), "LOGISTIC")
    y = g.unary(g.binary(x, gate, "MUL", activation="NONE"), "HARD_SWISH")
    y = g.binary(y, g.reduce(y, "SUM", (0, 2), keep_dims=True), "SUB", activation="RELU")
    c = g.constant("c", (8,), g.tensors[y].quant)
    y = g.binary(g.binary(y, c, "MAXIMUM"), c, "ADD", activation="NONE")
    y = g.binary(y, g.constant("alpha", (1, 1, 8)), "PRELU")
    return g.build(g.arg(g.reduce(y, "REDUCE_MAX", (1,), keep_dims=False), "ARG_MAX"))


def graphs():
    yield from ((key, lambda key=key: load_model(mlperf_model(key))) for key in
                sorted(MLPERF_MODELS))
    yield "small_cnn", small_cnn
    yield "residual", residual_net
    yield "math", math_net


def compilers() -> list[tuple[str, list[str]]]:
    found = [("host", ["gcc", "-O2"])] if shutil.which("gcc") else []
    for name in BOARDS:
        board = load_board(name)
        if board.toolchain_installed():
            found.append((name, [board.cc, *board.compile_flags()]))
    return found


def compile_strict(command: list[str], source: Path, include: Path, out: Path) -> None:
    result = subprocess.run([*command, *STRICT, INCLUDE, f"-I{include}", "-c", str(source),
                             "-o", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command[:1])} {source.name}:\n{result.stderr}"


@pytest.mark.slow
@pytest.mark.parametrize("name, build", list(graphs()), ids=[n for n, _ in graphs()])
def test_generated_c_is_clean_for_every_target(tmp_path, name, build):
    folder = tmp_path / name
    folder.mkdir()
    for filename, text in generate(build(), "net").items():
        (folder / filename).write_text(text)
    sources = sorted(folder.glob("*.c"))
    assert sources
    for target, command in compilers():
        for source in sources:
            compile_strict(command, source, folder, tmp_path / f"{target}.o")


@pytest.mark.parametrize("cc", ["clang", "gcc"])
def test_portable_runtime_builds_with_any_c99_compiler(tmp_path, cc):
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} not installed")
    for source in sorted((REPO / "runtime_c" / "src").glob("*.c")):
        compile_strict([cc, "-O1"], source, REPO / "runtime_c" / "src", tmp_path / "k.o")
