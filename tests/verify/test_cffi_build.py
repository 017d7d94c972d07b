"""edgekd/verify/cffi_build.py: building, caching and importing cffi modules, and the
ToolchainError a compiler failure becomes."""
from __future__ import annotations

import cffi
import pytest

from edgekd.errors import ToolchainError
from edgekd.verify import cffi_build
from edgekd.verify.cffi_build import (
    RUNTIME_HEADER,
    compile_module,
    header_cdef,
    runtime_sources,
)

ADD_SOURCE = '#include "scale.h"\nint add_scaled(int a, int b) { return a + SCALE * b; }\n'


def write_project(root, scale: int):
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "add.c").write_text(ADD_SOURCE)
    (root / "src" / "scale.h").write_text(f"#define SCALE {scale}\n")
    return root / "src" / "add.c"


def test_compiles_and_calls_a_function(tmp_path):
    source = write_project(tmp_path, scale=3)
    _, lib = compile_module("adder", "int add_scaled(int a, int b);", [source],
                            [source.parent], workdir=tmp_path / "build")
    assert lib.add_scaled(2, 5) == 17


def test_reuses_a_cached_build_without_compiling(tmp_path, monkeypatch):
    source = write_project(tmp_path, scale=3)
    build = tmp_path / "build"
    compile_module("adder", "int add_scaled(int a, int b);", [source], [source.parent],
                   workdir=build)
    built = list(build.glob("_adder_*"))
    assert len(built) == 1
    # A new process starts with nothing imported; compiling again would fail loudly.
    monkeypatch.setattr(cffi_build, "_loaded", {})
    monkeypatch.setattr(cffi_build, "_build", lambda *a, **k: pytest.fail("rebuilt"))
    _, lib = compile_module("adder", "int add_scaled(int a, int b);", [source],
                            [source.parent], workdir=build)
    assert lib.add_scaled(1, 1) == 4


def test_a_changed_header_gives_a_new_module(tmp_path):
    source = write_project(tmp_path, scale=3)
    build = tmp_path / "build"
    _, first = compile_module("adder", "int add_scaled(int a, int b);", [source],
                              [source.parent], workdir=build)
    write_project(tmp_path, scale=10)
    _, second = compile_module("adder", "int add_scaled(int a, int b);", [source],
                               [source.parent], workdir=build)
    assert (first.add_scaled(0, 1), second.add_scaled(0, 1)) == (3, 10)
    assert len(list(build.glob("_adder_*"))) == 2


def test_compiler_error_becomes_toolchain_error_with_the_first_error_line(tmp_path):
    source = tmp_path / "broken.c"
    source.write_text("int broken(void) { return undeclared_name; }\n")
    with pytest.raises(ToolchainError, match=r"broken: C compilation failed: .*broken\.c:1:.*"
                                             r"undeclared_name"):
        compile_module("broken", "int broken(void);", [source], [], workdir=tmp_path / "b")
    assert not list((tmp_path / "b").glob("_broken_*"))  # nothing half-built left behind


def test_a_declared_function_without_definition_becomes_toolchain_error(tmp_path):
    source = write_project(tmp_path, scale=3)
    with pytest.raises(ToolchainError, match="does not load: .*undefined symbol: missing"):
        compile_module("missing", "int add_scaled(int a, int b); int missing(void);",
                       [source], [source.parent], workdir=tmp_path / "b")


def test_unparsable_declarations_become_toolchain_error(tmp_path):
    with pytest.raises(ToolchainError, match="cannot parse"):
        compile_module("bad_cdef", "int f(", [], [], workdir=tmp_path)


def test_runtime_header_declarations_parse_as_cdef():
    ffi = cffi.FFI()
    ffi.cdef(header_cdef(RUNTIME_HEADER))
    assert ffi.sizeof("ekd_dims") == 16
    assert ffi.sizeof("ekd_conv_params") == 11 * 4


def test_runtime_sources_exist_beside_the_header():
    sources = runtime_sources()
    assert sources and all(s.suffix == ".c" and s.is_file() for s in sources)
    assert RUNTIME_HEADER.is_file()
