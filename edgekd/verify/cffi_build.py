"""Compile C into a Python extension module with cffi: the one place edgekd does it.

Host verification of generated models and the runtime's own tests both build through
``compile_module``. Builds are cached by a hash of everything that goes into them (C
sources, the headers beside them, declarations, flags, Python and cffi versions), so a
second test run imports the module built by the first instead of compiling again.

The cache lives in ``$EDGEKD_CACHE/cffi`` (default ``~/.cache/edgekd/cffi``, following
``$XDG_CACHE_HOME``) unless a ``workdir`` is given.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from edgekd.errors import ToolchainError
from edgekd.resources import RUNTIME_DIR

RUNTIME_INCLUDE = RUNTIME_DIR / "include"
RUNTIME_SRC = RUNTIME_DIR / "src"
RUNTIME_HEADER = RUNTIME_INCLUDE / "edgekd" / "ekd.h"

# Modules already imported in this process, by module name (a name embeds the input hash).
_loaded: dict[str, Any] = {}


@dataclass(frozen=True)
class _BuildFlags:
    """Compiler and linker options beyond the Python extension defaults."""

    compile_args: tuple[str, ...]
    link_args: tuple[str, ...]
    define_macros: tuple[tuple[str, str | None], ...]


def runtime_sources() -> list[Path]:
    """The runtime's C files, one kernel per file, in a stable order."""
    return sorted(RUNTIME_SRC.glob("ekd_*.c"))


def header_cdef(header: Path) -> str:
    """A C header's declarations in the form cffi's ``cdef`` accepts.

    Drops preprocessor lines and the ``extern "C"`` wrapper of ``#ifdef __cplusplus``
    blocks; the header must keep its declarations outside other conditionals.
    """
    lines: list[str] = []
    in_cplusplus = False
    for line in Path(header).read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#ifdef __cplusplus"):
            in_cplusplus = True
        elif in_cplusplus and stripped.startswith("#endif"):
            in_cplusplus = False
        elif not in_cplusplus and not stripped.startswith("#"):
            lines.append(line)
    return "\n".join(lines) + "\n"


def compile_runtime(extra_compile_args: Sequence[str] = (),
                    define_macros: Sequence[tuple[str, str | None]] = (),
                    workdir: Path | None = None,
                    extra_link_args: Sequence[str] = ()) -> tuple[Any, Any]:
    """(ffi, lib) of the whole runtime: every kernel of ``ekd.h`` callable from Python."""
    return compile_module(
        "ekd_runtime", header_cdef(RUNTIME_HEADER), runtime_sources(), [RUNTIME_INCLUDE],
        extra_compile_args=extra_compile_args, define_macros=define_macros, workdir=workdir,
        preamble='#include "edgekd/ekd.h"\n', extra_link_args=extra_link_args)


def compile_module(name: str, cdef: str, sources: Sequence[Path | str],
                   include_dirs: Sequence[Path | str],
                   extra_compile_args: Sequence[str] = (),
                   define_macros: Sequence[tuple[str, str | None]] = (),
                   workdir: Path | str | None = None,
                   *, preamble: str | None = None,
                   extra_link_args: Sequence[str] = (),
                   extra_objects: Sequence[Path] = ()) -> tuple[Any, Any]:
    """Build (or reuse) a cffi extension from C sources and import it; return (ffi, lib).

    ``cdef`` declares what Python may call. ``preamble`` is the C text at the top of the
    generated module (usually ``#include`` lines that make ``cdef``'s declarations
    visible); by default it is ``<stdint.h>`` followed by ``cdef`` itself, which suits
    plain function prototypes. ``extra_link_args`` go to the shared-library link (e.g.
    ``-fsanitize=undefined``). ``extra_objects`` are linked in as they are (a
    ``compile_archive`` result: the runtime compiled once for every model). Raises
    ToolchainError with the compiler's first error line when the build fails.
    """
    sources = [Path(s).resolve() for s in sources]
    include_dirs = [Path(d).resolve() for d in include_dirs]
    if preamble is None:
        preamble = "#include <stdint.h>\n" + cdef
    # Python's own CFLAGS carry -fwrapv; the firmware build does not, so neither may the
    # host build that stands in for it.
    flags = _BuildFlags(("-fno-wrapv", *extra_compile_args),
                        (*extra_link_args, *map(str, extra_objects)), tuple(define_macros))
    digest = _input_digest(name, cdef, preamble, sources, include_dirs, flags)
    module_name = f"_{re.sub(r'[^0-9A-Za-z_]', '_', name)}_{digest[:16]}"
    if module_name in _loaded:
        module = _loaded[module_name]
        return module.ffi, module.lib

    build_dir = Path(workdir) if workdir is not None else _default_cache_dir()
    build_dir.mkdir(parents=True, exist_ok=True)
    target = build_dir / (module_name + importlib.machinery.EXTENSION_SUFFIXES[0])
    if not target.is_file():
        _build(name, module_name, cdef, preamble, sources, include_dirs, flags, build_dir,
               target)
    module = _import_from_path(module_name, target)
    _loaded[module_name] = module
    return module.ffi, module.lib


def compile_archive(name: str, sources: Sequence[Path | str],
                    include_dirs: Sequence[Path | str], extra_compile_args: Sequence[str] = (),
                    define_macros: Sequence[tuple[str, str | None]] = (),
                    workdir: Path | str | None = None) -> Path:
    """A static library of ``sources``, compiled (position-independent, with the flags a
    ``compile_module`` build uses) once per content and flags, and cached beside the
    modules; its path names its digest, so modules linking it rebuild when it changes."""
    from setuptools._distutils import ccompiler, sysconfig

    sources = [Path(s).resolve() for s in sources]
    include_dirs = [Path(d).resolve() for d in include_dirs]
    flags = _BuildFlags(("-fno-wrapv", *extra_compile_args), (), tuple(define_macros))
    digest = _input_digest(name, "", "", sources, include_dirs, flags)
    build_dir = Path(workdir) if workdir is not None else _default_cache_dir()
    target = build_dir / f"lib{name}_{digest[:16]}.a"
    if target.is_file():
        return target
    build_dir.mkdir(parents=True, exist_ok=True)
    compiler = ccompiler.new_compiler()
    sysconfig.customize_compiler(compiler)
    with tempfile.TemporaryDirectory(dir=build_dir, prefix=f".{target.stem}-") as tmp:
        log = Path(tmp) / "compiler.log"
        try:
            with _output_redirected_to(log):
                objects = compiler.compile(
                    [str(s) for s in sources], output_dir=tmp,
                    include_dirs=[str(d) for d in include_dirs],
                    macros=list(flags.define_macros), extra_postargs=list(flags.compile_args))
                compiler.create_static_lib(objects, target.stem[3:], output_dir=tmp)
        except Exception as e:
            raise ToolchainError(
                f"{name}: C compilation failed: {_first_error_line(log, e)}") from None
        os.replace(Path(tmp) / target.name, target)
    return target


def _default_cache_dir() -> Path:
    root = os.environ.get("EDGEKD_CACHE")
    if root:
        return Path(root) / "cffi"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "edgekd" / "cffi"


def _input_digest(name: str, cdef: str, preamble: str, sources: list[Path],
                  include_dirs: list[Path], flags: _BuildFlags) -> str:
    """SHA-256 over everything that can change the built module."""
    import cffi

    h = hashlib.sha256()

    def add(text: str) -> None:
        h.update(text.encode())
        h.update(b"\0")

    for part in (name, cdef, preamble, sys.version, sys.platform, cffi.__version__,
                 repr(flags)):
        add(part)
    # Sources and the headers they can include: those beside them and in include_dirs.
    headers = {p for d in {*include_dirs, *(s.parent for s in sources)} for p in d.rglob("*.h")}
    for path in [*sources, *sorted(headers)]:
        add(str(path))
        h.update(path.read_bytes())
    return h.hexdigest()


def _build(name: str, module_name: str, cdef: str, preamble: str, sources: list[Path],
           include_dirs: list[Path], flags: _BuildFlags, build_dir: Path, target: Path) -> None:
    import cffi

    ffi = cffi.FFI()
    try:
        ffi.cdef(cdef)
    except cffi.CDefError as e:
        raise ToolchainError(f"{name}: cffi cannot parse the declarations: {e}") from None
    ffi.set_source(module_name, preamble, sources=[str(s) for s in sources],
                   include_dirs=[str(d) for d in include_dirs],
                   extra_compile_args=list(flags.compile_args),
                   extra_link_args=list(flags.link_args),
                   define_macros=list(flags.define_macros))
    # Build in a private folder and move the result into place, so concurrent builds of
    # the same module never see a half-written file.
    with tempfile.TemporaryDirectory(dir=build_dir, prefix=f".{module_name}-") as tmp:
        log = Path(tmp) / "compiler.log"
        try:
            with _output_redirected_to(log):
                built = ffi.compile(tmpdir=tmp, verbose=False)
        except Exception as e:  # setuptools and cffi wrap compiler failures variously
            raise ToolchainError(
                f"{name}: C compilation failed: {_first_error_line(log, e)}") from None
        os.replace(built, target)


@contextmanager
def _output_redirected_to(path: Path) -> Iterator[None]:
    """Send file descriptors 1 and 2 (where the compiler writes) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(path, "wb") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)


# Most telling first: a located compiler error, a linker's missing symbol, then any error.
_ERROR_LINE_PATTERNS = (r"^\S+:\d+(:\d+)?: (fatal )?error:", r"undefined reference",
                        r"\berror\b")


def _first_error_line(log: Path, error: Exception) -> str:
    lines = (log.read_text(errors="replace") if log.is_file() else "").splitlines()
    for pattern in _ERROR_LINE_PATTERNS:
        for line in lines:
            if re.search(pattern, line, re.IGNORECASE):
                return line.strip()
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__


def _import_from_path(module_name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ToolchainError(f"{path}: not an importable extension module")
    try:
        module = importlib.util.module_from_spec(spec)  # loads the shared library
        spec.loader.exec_module(module)
    except ImportError as e:  # e.g. a declared function that no source defines
        raise ToolchainError(f"{path.name}: the built module does not load: {e}") from None
    return module
