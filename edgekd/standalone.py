"""`edgekd compile --with-runtime`: the generated model plus the runtime sources it needs,
a CMakeLists.txt and a Make fragment, in one folder that builds without edgekd installed.

Which runtime files a model needs is found from the C itself, not from a list kept beside
the kernels: start from the ``ekd_*`` names the generated files mention, add the runtime
source that defines each, then the names those sources mention, until nothing changes;
headers follow the ``#include "..."`` lines. Every kernel variant a generated file names
(portable, Arm DSP, MVE) is kept, so the folder builds for any core.

Two such folders link into one firmware: the model's symbols carry its name, and the
runtime copies are identical objects in per-model static libraries (CMake) or are added
once per file name (model.mk), so each kernel is linked once.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from edgekd.atomic import atomic_file, swap_in_dir
from edgekd.resources import RUNTIME_DIR

RUNTIME_FOLDER = "runtime"  # inside the output folder
_NAME = re.compile(r"\bekd_\w+")
# Not called by the model but by the application, to convert its data (docs/integration.md).
_APPLICATION_API = "ekd_quantize_f32_s8 ekd_dequantize_s8_f32"
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)
# A definition starts at column 0 with a return type and is not static: `ekd_status ekd_x(`.
_DEFINITION = re.compile(r"^(?!static\b)[A-Za-z_][\w \t\*]*?\b(ekd_\w+)\s*\([^;]*?$", re.MULTILINE)


def runtime_definitions(runtime_dir: Path = RUNTIME_DIR) -> dict[str, list[Path]]:
    """Each external function of the runtime and the .c files that define it (several when
    each defines it for other cores, under #if)."""
    defined: dict[str, list[Path]] = {}
    for source in sorted((runtime_dir / "src").glob("*.c")):
        for name in set(_DEFINITION.findall(source.read_text())):
            defined.setdefault(name, []).append(source)
    return defined


def needed_runtime_files(generated_texts: list[str], runtime_dir: Path = RUNTIME_DIR) -> list[Path]:
    """The runtime's .c and .h files the generated sources need, sorted."""
    definitions = runtime_definitions(runtime_dir)
    sources: set[Path] = set()
    pending = [*generated_texts, _APPLICATION_API]
    while pending:
        for name in set(_NAME.findall(pending.pop())):
            for source in definitions.get(name, ()):
                if source not in sources:
                    sources.add(source)
                    pending.append(source.read_text())
    header = runtime_dir / "include" / "edgekd" / "ekd.h"
    files = set(sources) | {header}
    pending_files = sorted(files)
    while pending_files:
        current = pending_files.pop()
        for included in _INCLUDE.findall(current.read_text()):
            for folder in (current.parent, runtime_dir / "include", runtime_dir / "src"):
                candidate = (folder / included).resolve()
                if candidate.is_file() and candidate not in files:
                    files.add(candidate)
                    pending_files.append(candidate)
                    break
    return sorted(files)


def write_runtime_bundle(out_dir: str | os.PathLike, name: str, model_files: list[str],
                         runtime_dir: Path = RUNTIME_DIR) -> list[str]:
    """Add the needed runtime sources (out_dir/runtime/), CMakeLists.txt and model.mk to a
    folder `compile` wrote; returns the paths written, relative to out_dir."""
    out = Path(out_dir)
    texts = [(out / f).read_text() for f in model_files if f.endswith((".c", ".h"))]
    files = needed_runtime_files(texts, runtime_dir)
    relative = [f.relative_to(runtime_dir.resolve()).as_posix() for f in files]
    _replace_folder(out / RUNTIME_FOLDER, {r: f for r, f in zip(relative, files)})
    sources = [f"{RUNTIME_FOLDER}/{r}" for r in relative if r.endswith(".c")]
    model_sources = [f for f in model_files if f.endswith(".c")]
    for filename, text in (("CMakeLists.txt", cmake_lists(name, model_sources, sources)),
                           ("model.mk", make_fragment(name, model_sources, sources))):
        with atomic_file(out / filename) as stream:
            stream.write(text.encode("ascii"))
    return [f"{RUNTIME_FOLDER}/{r}" for r in relative] + ["CMakeLists.txt", "model.mk"]


def _replace_folder(target: Path, files: dict[str, Path]) -> None:
    """Make ``target`` hold exactly ``files`` (relative path: source), swapped in whole."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for relative, source in files.items():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / relative)
        for folder in [staging, *(p for p in staging.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
        swap_in_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def cmake_lists(name: str, model_sources: list[str], runtime_sources: list[str]) -> str:
    """A CMakeLists.txt that builds the model into the static library edgekd::<name>."""
    lines = "\n".join
    return f"""\
# The model "{name}" generated by edgekd, with the runtime sources it needs.
# Generated by `edgekd compile --with-runtime`. Do not edit; regenerate instead.
#
#   add_subdirectory(path/to/this/folder)
#   target_link_libraries(app PRIVATE edgekd::{name})
#
# Cross-compile with your toolchain file (`edgekd cmake-dir` holds arm-none-eabi.cmake and
# riscv64-unknown-elf.cmake). Define {name.upper()}_STATIC_ARENA on the library for {name}_run().
cmake_minimum_required(VERSION 3.16)
if(CMAKE_SOURCE_DIR STREQUAL CMAKE_CURRENT_SOURCE_DIR)
  project(edgekd_{name} LANGUAGES C)
endif()

# Identical runtime objects in several models' libraries link once: the linker takes each
# kernel from the first library that defines it.
add_library(edgekd_{name}_runtime STATIC
{lines(f'    "${{CMAKE_CURRENT_LIST_DIR}}/{s}"' for s in runtime_sources)}
)
target_include_directories(edgekd_{name}_runtime PUBLIC
                           "${{CMAKE_CURRENT_LIST_DIR}}/{RUNTIME_FOLDER}/include")

add_library(edgekd_{name} STATIC
{lines(f'    "${{CMAKE_CURRENT_LIST_DIR}}/{s}"' for s in model_sources)}
)
target_include_directories(edgekd_{name} PUBLIC "${{CMAKE_CURRENT_LIST_DIR}}")
target_link_libraries(edgekd_{name} PUBLIC edgekd_{name}_runtime)
set_target_properties(edgekd_{name} edgekd_{name}_runtime PROPERTIES
                      C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
add_library(edgekd::{name} ALIAS edgekd_{name})
# Inside a Zephyr (or nRF Connect SDK) application the target's -mcpu, float ABI and the
# like live on zephyr_interface, not in CMAKE_C_FLAGS: take them from there.
if(TARGET zephyr_interface)
  target_link_libraries(edgekd_{name}_runtime PRIVATE zephyr_interface)
  target_link_libraries(edgekd_{name} PRIVATE zephyr_interface)
endif()
"""


def make_fragment(name: str, model_sources: list[str], runtime_sources: list[str]) -> str:
    """model.mk: the model's sources, include dirs and defines as Make variables."""
    var = f"{name.upper()}_MODEL"  # never one of the EDGEKD_* totals, whatever the name
    words = " \\\n    ".join
    files = [s.rsplit("/", 1)[1] for s in runtime_sources]
    return f"""\
# The model "{name}" generated by edgekd, for a plain Makefile.
# Generated by `edgekd compile --with-runtime`. Do not edit; regenerate instead.
#
#   include path/to/this/folder/model.mk
#   SRCS += $(EDGEKD_SOURCES)
#   CFLAGS += $(addprefix -I,$(EDGEKD_INCLUDE_DIRS)) $(addprefix -D,$(EDGEKD_DEFINES))
#
# EDGEKD_* collect every included model; each runtime file is added once, so two models
# link into one firmware. The {var}_* variables describe this model alone.
{var}_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
{var}_SOURCES := {words(f'$({var}_DIR)/{s}' for s in model_sources)}
{var}_RUNTIME_FILES := {words(files)}
{var}_RUNTIME_SOURCES := $(addprefix $({var}_DIR)/{RUNTIME_FOLDER}/src/,$({var}_RUNTIME_FILES))
{var}_INCLUDE_DIRS := $({var}_DIR) $({var}_DIR)/{RUNTIME_FOLDER}/include
# None needed: the runtime picks its kernels from the compiler's -mcpu. Add
# {name.upper()}_STATIC_ARENA for {name}_run() with a static arena.
{var}_DEFINES :=

# Runtime files an earlier model did not bring (simply expanded: EDGEKD_SOURCES is read here).
{var}_NEW_RUNTIME_SOURCES := $(foreach f,$({var}_RUNTIME_FILES),$(if $(filter %/$(f),$(EDGEKD_SOURCES)),,$({var}_DIR)/{RUNTIME_FOLDER}/src/$(f)))
EDGEKD_SOURCES := $(EDGEKD_SOURCES) $({var}_SOURCES) $({var}_NEW_RUNTIME_SOURCES)
EDGEKD_INCLUDE_DIRS := $(EDGEKD_INCLUDE_DIRS) $({var}_INCLUDE_DIRS)
EDGEKD_DEFINES := $(EDGEKD_DEFINES) $({var}_DEFINES)
"""
