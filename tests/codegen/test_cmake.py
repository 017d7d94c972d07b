"""CMake integration: CMakeLists.txt (edgekd::runtime, edgekd_add_model), the Arm toolchain
file and examples/cmake_consumer, built for the host (and run) and for a Cortex-M."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekd.codegen import generate_model, write_sources
from edgekd.interpreter import run

from .graphs import small_cnn

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "cmake_consumer"
ARM_TOOLCHAIN = REPO / "cmake" / "arm-none-eabi.cmake"


def cmake_build(source: Path, build: Path, *options: str) -> str:
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    configure = subprocess.run(["cmake", "-S", str(source), "-B", str(build), *options],
                               capture_output=True, text=True)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    result = subprocess.run(["cmake", "--build", str(build), "-j", "2"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def example_input(size: int) -> np.ndarray:
    """The input examples/cmake_consumer/main.c builds with its 32-bit LCG."""
    state, values = 12345, []
    for _ in range(size):
        state = (state * 1664525 + 1013904223) % 2**32
        values.append((state >> 24) - 128)
    return np.array(values, dtype=np.int8)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("generated") / "model"
    graph = small_cnn(seed=11)
    write_sources(graph, out, "model")
    return graph, out


def test_example_builds_and_runs_on_the_host(tmp_path, model_dir):
    graph, out = model_dir
    log = cmake_build(EXAMPLE, tmp_path / "host", f"-DMODEL_DIR={out}")
    assert "warning" not in log.lower(), log
    result = subprocess.run([str(tmp_path / "host" / "consumer")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    x = example_input(graph.tensor(graph.inputs[0]).size).reshape(
        graph.tensor(graph.inputs[0]).shape)
    expected = int(np.argmax(run(graph, x)[0].reshape(-1)))  # first maximum, as main.c
    arena = generate_model(graph, "model").plan.arena_bytes
    assert result.stdout == f"top output: {expected} (arena {arena} bytes)\n"


def test_example_cross_builds_for_cortex_m(tmp_path, model_dir):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    _, out = model_dir
    log = cmake_build(EXAMPLE, tmp_path / "arm", f"-DMODEL_DIR={out}",
                      f"-DCMAKE_TOOLCHAIN_FILE={ARM_TOOLCHAIN}", "-DEDGEKD_ARM_CPU=cortex-m0plus")
    assert "warning" not in log.lower(), log
    elf = (tmp_path / "arm" / "consumer.elf").read_bytes()
    assert elf[:4] == b"\x7fELF" and elf[4] == 1  # 32-bit
    assert int.from_bytes(elf[18:20], "little") == 40  # EM_ARM
    assert (tmp_path / "arm" / "edgekd" / "libedgekd_runtime.a").is_file()


def test_add_model_needs_a_generated_folder(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.c").write_text("int main(void) { return 0; }\n")
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(p C)\n"
        f'add_subdirectory("{REPO}" edgekd)\n'
        "add_executable(app main.c)\n"
        f'edgekd_add_model(app "{tmp_path / "empty"}")\n')
    (tmp_path / "empty").mkdir()
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    result = subprocess.run(["cmake", "-S", str(project), "-B", str(tmp_path / "b")],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "expected one generated *.cmake file there, found 0" in result.stderr
