"""Generated C is clean under ``-std=c99 -Wall -Wextra -Wpedantic -Werror`` for every target
and every kernel choice: host gcc, Cortex-M0/M4/M55 (arm-none-eabi-gcc with each board's
flags) and RV32 (riscv64-unknown-elf-gcc), on the shared MLPerf Tiny models and on graphs
that take each branch (Helium, DSP, direct kernels, a fused residual ADD, scratch past the
plan). The portable runtime builds with clang and gcc under the same flags."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
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


def layout_net():
    """Every layout op and both resizes, a PAD folded into a convolution, two inputs (one
    uint8, one float32) and three outputs."""
    from edgekd.ir import Graph, Node, QuantParams, Tensor

    q = QuantParams.per_tensor(0.05, 3)

    def t(name, shape, dtype="int8", quant=q):
        return Tensor(name, shape, dtype, quant)
    tensors = [t("x_u8", (1, 6, 6, 2), "uint8", QuantParams.per_tensor(0.05, 131)),
               t("x_f32", (1, 6, 6, 2), "float32", None), t("a", (1, 6, 6, 2)),
               t("b", (1, 6, 6, 2)), t("c", (1, 6, 6, 4)), t("p", (1, 7, 7, 4)),
               t("w", (4, 3, 3, 4)), t("conv", (1, 3, 3, 4)), t("s", (1, 3, 2, 4)),
               t("tr", (1, 4, 3, 2)), t("tile", (1, 6, 3, 4)), t("g", (1, 6, 2, 4)),
               t("rn", (1, 5, 5, 4)), t("rb", (1, 4, 4, 4)), t("y", (1, 4, 4, 4), "uint8",
                                                             QuantParams.per_tensor(0.05, 131))]
    tensors[6] = Tensor("w", (4, 3, 3, 4), "int8", QuantParams.per_tensor(0.02, 0),
                        np.ones((4, 3, 3, 4), np.int8))
    tensors.append(Tensor("bias", (4,), "int32", QuantParams.per_tensor(0.05 * 0.02, 0),
                          np.arange(4, dtype=np.int32) * 50))
    nodes = [Node("REQUANTIZE", "in_u8", ["x_u8"], ["a"]),
             Node("QUANTIZE", "in_f32", ["x_f32"], ["b"]),
             Node("CONCATENATION", "cat", ["a", "b"], ["c"], {"axis": 3}),
             Node("PAD", "pad", ["c"], ["p"], {"paddings": ((0, 0), (1, 0), (1, 0), (0, 0)),
                                               "pad_value": 3}),
             Node("CONV_2D", "conv", ["p", "w", "bias"], ["conv"], {
                 "stride": (2, 2), "dilation": (1, 1), "padding": "VALID",
                 "activation": "NONE"}),
             Node("STRIDED_SLICE", "slice", ["conv"], ["s"], {
                 "begin": (0, 0, 2, 0), "strides": (1, 1, -2, 1), "size": (1, 3, 2, 4)}),
             Node("TRANSPOSE", "transpose", ["s"], ["tr"], {"perm": (0, 3, 1, 2)}),
             Node("TILE", "tile", ["conv"], ["tile"], {"multiples": (1, 2, 1, 1)}),
             Node("GATHER", "gather", ["tile"], ["g"], {"axis": 2, "indices": (2, 0)}),
             Node("RESIZE_NEAREST_NEIGHBOR", "nearest", ["conv"], ["rn"], {
                 "align_corners": False, "half_pixel_centers": True}),
             Node("RESIZE_BILINEAR", "bilinear", ["conv"], ["rb"], {
                 "align_corners": False, "half_pixel_centers": False}),
             Node("REQUANTIZE", "out_u8", ["rb"], ["y"])]
    return Graph("layout", {x.name: x for x in tensors}, nodes, ["x_u8", "x_f32"],
                 ["tr", "g", "rn", "y"]).validate()


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
    yield "layout", layout_net
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
