"""`edgekd compile --with-runtime`: a folder that builds without edgekd, with CMake (host,
arm-none-eabi, riscv64-unknown-elf) and from a plain Makefile, two models in one program,
and the installed CMake package (find_package(edgekd) from `edgekd cmake-dir`)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekd.frontends import save_model
from edgekd.interpreter import run
from edgekd.resources import CMAKE_DIR, RUNTIME_DIR
from edgekd.standalone import needed_runtime_files

from .graphs import small_cnn
from .test_cmake import cmake_build, example_input

MODELS = ("first", "second")


def edgekd(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekd", *args], capture_output=True,
                          text=True, cwd=cwd)


def two_model_main(names=MODELS, printing: bool = True) -> str:
    """A program that runs each model on the LCG input and prints its output bytes (or,
    without a console to print on, keeps them in a volatile)."""
    emit = 'printf("%d ", out_{n}.data[i])' if printing else "sink += out_{n}.data[i]"
    newline = 'printf("\\n");' if printing else ""
    includes = "".join(f'#include "{n}.h"\n' for n in names)
    arenas = "".join(f"static uint8_t arena_{n}[{n.upper()}_ARENA_SIZE] "
                     f"EKD_ALIGNED({n.upper()}_ARENA_ALIGN);\n"
                     f"static {n}_input_t in_{n};\nstatic {n}_output_t out_{n};\n"
                     for n in names)
    runs = "".join(f"""
    fill(in_{n}.data, {n.upper()}_INPUT_SIZE);
    if ({n}_invoke(&in_{n}, &out_{n}, arena_{n}) != EKD_OK) return 1;
    for (i = 0; i < {n.upper()}_OUTPUT_SIZE; ++i) {emit.format(n=n)};
    {newline}
""" for n in names)
    return f"""#include <stdint.h>
#include <stdio.h>
{includes}{arenas}static volatile int sink;

static void fill(int8_t *data, int size)
{{
    uint32_t state = 12345u;
    int i;
    for (i = 0; i < size; ++i) {{
        state = state * 1664525u + 1013904223u;
        data[i] = (int8_t)((int)(state >> 24) - 128);
    }}
}}

int main(void)
{{
    int i;
{runs}    return 0;
}}
"""


def expected_lines(graphs) -> str:
    lines = []
    for graph in graphs:
        spec = graph.tensor(graph.inputs[0])
        out = run(graph, example_input(spec.size).reshape(spec.shape))[0]
        lines.append("".join(f"{v} " for v in out.reshape(-1)))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Two models compiled --with-runtime by the CLI, as a user would."""
    root = tmp_path_factory.mktemp("bundles")
    graphs = []
    for seed, name in enumerate(MODELS, start=21):
        graph = small_cnn(seed=seed, name=name)
        save_model(graph, root / f"{name}.tflite")
        result = edgekd("compile", str(root / f"{name}.tflite"), "-o", str(root / name),
                        "--with-runtime")
        assert result.returncode == 0, result.stderr
        graphs.append(graph)
    return root, graphs


def two_model_cmake_project(root: Path, bundles_root: Path, printing: bool = True) -> Path:
    project = root / "firmware"
    project.mkdir()
    (project / "main.c").write_text(two_model_main(printing=printing))
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(firmware C)\n"
        + "".join(f'add_subdirectory("{bundles_root / n}" {n})\n' for n in MODELS)
        + "add_executable(app main.c)\n"
        + f"target_link_libraries(app PRIVATE {' '.join(f'edgekd::{n}' for n in MODELS)})\n"
        + "if(CMAKE_CROSSCOMPILING)\n  set_target_properties(app PROPERTIES SUFFIX .elf)\nendif()\n")
    return project


def test_bundle_holds_the_runtime_files_the_model_needs(bundles):
    root, _ = bundles
    folder = root / "first"
    copied = sorted(p.relative_to(folder / "runtime").as_posix()
                    for p in (folder / "runtime").rglob("*") if p.is_file())
    texts = [p.read_text() for p in folder.glob("first*.[ch]")]
    assert copied == [p.relative_to(RUNTIME_DIR.resolve()).as_posix()
                      for p in needed_runtime_files(texts)]
    names = {Path(p).name for p in copied}
    assert "ekd_quantize_f32_s8.c" in names  # the application's converter is always there
    assert "ekd_dynamic_fully_connected_f32.c" not in names  # small_cnn has no such layer


def test_two_models_in_one_host_program_with_cmake(tmp_path, bundles):
    root, graphs = bundles
    project = two_model_cmake_project(tmp_path, root)
    log = cmake_build(project, tmp_path / "build")
    assert "warning" not in log.lower(), log
    result = subprocess.run([str(tmp_path / "build" / "app")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_lines(graphs)


@pytest.mark.slow
@pytest.mark.parametrize("toolchain, compiler, options", [
    ("arm-none-eabi.cmake", "arm-none-eabi-gcc", ["-DEDGEKD_ARM_CPU=cortex-m4"]),
    ("arm-none-eabi.cmake", "arm-none-eabi-gcc", ["-DEDGEKD_ARM_CPU=cortex-m55"]),
    ("riscv64-unknown-elf.cmake", "riscv64-unknown-elf-gcc", []),
])
def test_two_models_cross_build_with_the_toolchain_files(tmp_path, bundles, toolchain,
                                                         compiler, options):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    root, _ = bundles
    project = two_model_cmake_project(tmp_path, root, printing=False)
    cmake_build(project, tmp_path / "build", f"-DCMAKE_TOOLCHAIN_FILE={CMAKE_DIR / toolchain}",
                *options)
    elf = (tmp_path / "build" / "app.elf").read_bytes()
    assert elf[:4] == b"\x7fELF" and elf[4] == 1  # a 32-bit executable, linked


def test_two_models_from_a_plain_makefile(tmp_path, bundles):
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make or cc is not installed")
    root, graphs = bundles
    (tmp_path / "main.c").write_text(two_model_main())
    (tmp_path / "Makefile").write_text(
        "".join(f"include {root / n}/model.mk\n" for n in MODELS)
        + "CFLAGS += -O1 $(addprefix -I,$(EDGEKD_INCLUDE_DIRS)) $(addprefix -D,$(EDGEKD_DEFINES))\n"
        + "app: main.c $(EDGEKD_SOURCES)\n\t$(CC) $(CFLAGS) -o $@ $^ -lm\n"
        + "sources:\n\t@echo $(EDGEKD_SOURCES)\n")
    listed = subprocess.run(["make", "-s", "sources"], cwd=tmp_path, capture_output=True,
                            text=True, check=True).stdout.split()
    runtime = [Path(s).name for s in listed if "/runtime/" in s]
    assert len(runtime) == len(set(runtime))  # each kernel once, whichever model brought it
    build = subprocess.run(["make", "-s", "app"], cwd=tmp_path, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    result = subprocess.run([str(tmp_path / "app")], capture_output=True, text=True, timeout=60)
    assert result.stdout == expected_lines(graphs)


def test_find_package_from_cmake_dir(tmp_path, bundles):
    """The CMake package `edgekd cmake-dir` prints: edgekd::runtime and edgekd_add_model()."""
    root, graphs = bundles
    cmake_dir = edgekd("cmake-dir").stdout.strip()
    assert Path(cmake_dir, "edgekdConfig.cmake").is_file()
    project = tmp_path / "app"
    project.mkdir()
    (project / "main.c").write_text(two_model_main(MODELS[:1]))
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(app C)\n"
        "find_package(edgekd 0.1 REQUIRED)\n"
        "add_executable(app main.c)\n"
        f'edgekd_add_model(app "{root / MODELS[0]}")\n')
    cmake_build(project, tmp_path / "build", f"-Dedgekd_DIR={cmake_dir}")
    result = subprocess.run([str(tmp_path / "build" / "app")], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout == expected_lines(graphs[:1])


def test_cmake_package_version_is_the_python_version():
    import re

    import edgekd

    text = (CMAKE_DIR / "edgekdConfigVersion.cmake").read_text()
    assert re.search(r'set\(PACKAGE_VERSION "([^"]+)"\)', text).group(1) == edgekd.__version__
    top = (CMAKE_DIR.parent / "CMakeLists.txt").read_text()
    assert f"project(edgekd VERSION {edgekd.__version__} " in top



def test_the_sensor_data_example_of_the_docs_builds_and_classifies(tmp_path):
    """docs/integration.md's classify(): float features in, the top class out."""
    if shutil.which("cc") is None:
        pytest.skip("cc is not installed")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "integration.md").read_text()
    example = doc.split("```c\n", 1)[1].split("```", 1)[0]
    graph = small_cnn(seed=31, name="kws")
    save_model(graph, tmp_path / "kws.tflite")
    assert edgekd("compile", str(tmp_path / "kws.tflite"), "-o", str(tmp_path / "kws"),
                  "--with-runtime").returncode == 0
    spec = graph.tensor(graph.inputs[0])
    q = example_input(spec.size)
    scale, zero_point = spec.quant.scale[0], spec.quant.zero_point[0]
    features = ", ".join(f"{float((v - zero_point) * scale)!r}f" for v in q)
    (tmp_path / "main.c").write_text(
        example + "#include <stdio.h>\n"
        f"static const float features[KWS_INPUT_SIZE] = {{{features}}};\n"
        'int main(void) { printf("%d\\n", classify(features)); return 0; }\n')
    sources = [str(p) for p in (tmp_path / "kws").rglob("*.c")]
    subprocess.run(["cc", "-O1", "-I", str(tmp_path / "kws"), "-I",
                    str(tmp_path / "kws" / "runtime" / "include"), "-o", str(tmp_path / "app"),
                    str(tmp_path / "main.c"), *sources, "-lm"], check=True)
    printed = subprocess.run([str(tmp_path / "app")], capture_output=True, text=True).stdout
    scores = run(graph, q.reshape(spec.shape))[0].reshape(-1)
    assert printed == f"{int(np.argmax(scores))}\n"


def test_inside_zephyr_the_libraries_take_zephyrs_flags(tmp_path, bundles):
    """Zephyr keeps -mcpu and the float ABI on zephyr_interface: both libraries link it."""
    root, _ = bundles
    project = tmp_path / "zephyr_app"
    project.mkdir()
    (project / "main.c").write_text(two_model_main(MODELS[:1]))
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(app C)\n"
        "add_library(zephyr_interface INTERFACE)  # stands for Zephyr's\n"
        "target_compile_definitions(zephyr_interface INTERFACE EDGEKD_SAW_ZEPHYR_FLAGS=1)\n"
        f'add_subdirectory("{root / MODELS[0]}" model)\n'
        "add_executable(app main.c)\n"
        f"target_link_libraries(app PRIVATE edgekd::{MODELS[0]})\n")
    log = cmake_build(project, tmp_path / "build", "-DCMAKE_VERBOSE_MAKEFILE=ON")
    compiles = [line for line in log.splitlines() if " -c " in line and "/runtime/src/" in line]
    assert compiles and all("EDGEKD_SAW_ZEPHYR_FLAGS=1" in line for line in compiles)
    model = [line for line in log.splitlines() if " -c " in line and f"{MODELS[0]}.c" in line]
    assert model and all("EDGEKD_SAW_ZEPHYR_FLAGS=1" in line for line in model)
