"""Every runtime source compiles warning-free as strict C99 with the host compilers and
the embedded cross compilers, needs nothing from a C library, and keeps no global state."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edgekd.verify.cffi_build import RUNTIME_INCLUDE, runtime_sources

STRICT_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Werror", "-O2"]

# name: (compiler, target flags, nm). The cross builds are freestanding: the runtime uses
# only <stdint.h> and <stddef.h>, which the compiler itself provides.
TOOLCHAINS = {
    "gcc": ("gcc", [], "nm"),
    "clang": ("clang", [], "nm"),
    "cortex-m0": ("arm-none-eabi-gcc", ["-mcpu=cortex-m0", "-mthumb", "-ffreestanding"],
                  "arm-none-eabi-nm"),
    "cortex-m4f": ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16",
                                         "-mfloat-abi=hard", "-ffreestanding"],
                   "arm-none-eabi-nm"),
    "rv32imac": ("riscv64-unknown-elf-gcc", ["-march=rv32imac", "-mabi=ilp32",
                                             "-ffreestanding"], "riscv64-unknown-elf-nm"),
    # Armv8.1-M with Helium: the *_mve.c kernels are compiled here (EKD_HAVE_MVE).
    "cortex-m55": ("arm-none-eabi-gcc", ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard",
                                         "-ffreestanding"], "arm-none-eabi-nm"),
    "clang-cortex-m55": ("clang", ["--target=arm-none-eabi", "-mcpu=cortex-m55",
                                   "-mfloat-abi=hard", "-ffreestanding"], "arm-none-eabi-nm"),
    # The Arm DSP kernels (*_dsp.c: inline assembly) on the cores that select them, at -O0
    # with a frame pointer too, where the compiler has the fewest registers for asm operands;
    # and the portable ones on a Cortex-M3.
    "cortex-m3": ("arm-none-eabi-gcc", ["-mcpu=cortex-m3", "-mthumb", "-ffreestanding"],
                  "arm-none-eabi-nm"),
    "cortex-m7": ("arm-none-eabi-gcc", ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16",
                                        "-mfloat-abi=hard", "-ffreestanding"],
                  "arm-none-eabi-nm"),
    "cortex-m4f-O0": ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16",
                                            "-mfloat-abi=hard", "-ffreestanding", "-O0", "-g",
                                            "-fno-omit-frame-pointer"], "arm-none-eabi-nm"),
    "clang-cortex-m4f": ("clang", ["--target=arm-none-eabi", "-mcpu=cortex-m4",
                                   "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-ffreestanding"],
                         "arm-none-eabi-nm"),
}
CROSS = ("cortex-m0", "cortex-m4f", "rv32imac", "cortex-m55", "clang-cortex-m55", "cortex-m3",
         "cortex-m7", "cortex-m4f-O0", "clang-cortex-m4f")


@pytest.fixture(scope="module")
def runtime_objects(tmp_path_factory):
    """Compiles the runtime once per toolchain for all tests of this module."""
    built: dict[str, list[Path]] = {}

    def objects(toolchain: str) -> list[Path]:
        if toolchain not in built:
            built[toolchain] = compile_runtime_objects(toolchain,
                                                       tmp_path_factory.mktemp(toolchain))
        return built[toolchain]
    return objects


def compile_runtime_objects(toolchain: str, out_dir: Path) -> list[Path]:
    compiler, target_flags, _ = TOOLCHAINS[toolchain]
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} not installed (scripts/system-packages.sh installs it)")
    sources = runtime_sources()
    result = subprocess.run(
        [compiler, *STRICT_FLAGS, *target_flags, f"-I{RUNTIME_INCLUDE}", "-c",
         *map(str, sources)], cwd=out_dir, capture_output=True, text=True)
    assert result.returncode == 0, f"{toolchain}: {compiler} failed:\n{result.stderr}"
    assert result.stderr == "", f"{toolchain}: {compiler} printed diagnostics:\n{result.stderr}"
    return [out_dir / (s.stem + ".o") for s in sources]


def symbols(toolchain: str, objects: list[Path], *options: str) -> list[tuple[str, str]]:
    """(type letter, name) of the symbols nm lists for the objects."""
    nm = TOOLCHAINS[toolchain][2]
    if shutil.which(nm) is None:
        pytest.skip(f"{nm} not installed")
    out = subprocess.run([nm, *options, *map(str, objects)], capture_output=True, text=True,
                         check=True).stdout
    return [(line.split()[-2], line.split()[-1]) for line in out.splitlines()
            if len(line.split()) >= 2 and not line.endswith(":")]


def test_runtime_has_one_source_per_kernel():
    names = {s.stem for s in runtime_sources()}
    assert {"ekd_conv2d_s8", "ekd_depthwise_conv2d_s8", "ekd_fully_connected_s8",
            "ekd_avgpool_s8", "ekd_maxpool_s8", "ekd_add_s8", "ekd_softmax_s8",
            "ekd_quantize_f32_s8", "ekd_dequantize_s8_f32"} <= names


@pytest.mark.parametrize("toolchain", sorted(TOOLCHAINS))
def test_runtime_compiles_strict_c99(toolchain, runtime_objects):
    assert all(o.is_file() for o in runtime_objects(toolchain))


# GCC may turn loops into calls of these even in freestanding code, and documents that
# every freestanding environment must provide them.
FREESTANDING_REQUIRED = {"memcpy", "memmove", "memset", "memcmp"}


@pytest.mark.parametrize("toolchain", CROSS)
def test_runtime_needs_only_the_compiler_support_library(toolchain, runtime_objects):
    """Undefined symbols are libgcc's soft-float/division helpers (all start with "__")
    and the memory functions GCC requires of any freestanding target: no libm, no stdio."""
    objects = runtime_objects(toolchain)
    defined = {name for kind, name in symbols(toolchain, objects, "--defined-only")}
    undefined = {name for _, name in symbols(toolchain, objects, "-u")} - defined
    assert {name for name in undefined
            if not name.startswith("__") and name not in FREESTANDING_REQUIRED} == set()


@pytest.mark.parametrize("toolchain", CROSS)
def test_runtime_keeps_no_global_state(toolchain, runtime_objects):
    """No writable data or bss: every kernel works only on its arguments."""
    objects = runtime_objects(toolchain)
    writable = [(kind, name) for kind, name in symbols(toolchain, objects)
                if kind in "DdBbCcGgSs"]
    assert writable == []
