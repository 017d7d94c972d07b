"""Build bare-metal firmware for an emulated board and measure what it needs.

``build_firmware`` compiles C and assembly sources with the board's cross compiler
(objects in parallel; the board's and the runtime's are cached by content in
``$EDGEKD_CACHE/firmware``), links them with the board's startup code and linker script,
and checks that the image fits the board's flash and RAM before anything runs: a model
too big for the board is a BoardFitError naming the bytes needed and available.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from edgekd.errors import BoardFitError, ToolchainError
from edgekd.verify.boards import COMMON_DIR, Board

Progress = Callable[[str], None]

# ELF section header constants (the System V ABI).
_SHT_NOBITS = 8
_SHF_WRITE = 0x1
_SHF_ALLOC = 0x2
_SHF_EXECINSTR = 0x4

# Lines of compiler and linker output that say what failed.
_TOOL_ERROR = re.compile(r"\berror\b:|undefined reference|multiple definition|will not fit|"
                         r"overflowed by")
# The linker reports a memory region too small with these words (GNU ld).
_REGION_OVERFLOW_MARKERS = ("will not fit in region", "overflowed by")


def stderr_progress(message: str) -> None:
    """The default progress report: one line on stderr."""
    print(f"edgekd: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ElfSizes:
    """Bytes an ELF image occupies, by kind, from its allocated sections."""

    text: int  # executable code (flash)
    rodata: int  # constants: weights, tables, the vector table's neighbours (flash)
    data: int  # initialised variables: a copy in flash, the variables in RAM
    bss: int  # zero-initialised variables (RAM); the model's arena lives here
    stack: int  # the reserved stack region (RAM)

    @property
    def flash_bytes(self) -> int:
        return self.text + self.rodata + self.data

    @property
    def static_ram_bytes(self) -> int:
        """RAM other than the stack: .data and .bss."""
        return self.data + self.bss

    @property
    def ram_bytes(self) -> int:
        """RAM with the whole reserved stack, what the linker places."""
        return self.data + self.bss + self.stack


@dataclass(frozen=True)
class Firmware:
    """A linked firmware image for one board."""

    board: Board
    elf: Path
    sizes: ElfSizes


@dataclass(frozen=True)
class _Section:
    name: str
    kind: int
    flags: int
    address: int
    size: int


def _sections(path: Path) -> list[_Section]:
    """The section headers of a 32-bit little-endian ELF file."""
    blob = Path(path).read_bytes()
    if blob[:4] != b"\x7fELF" or blob[4] != 1 or blob[5] != 1:
        raise ToolchainError(f"{path}: not a 32-bit little-endian ELF file")
    shoff, = struct.unpack_from("<I", blob, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", blob, 0x2E)
    headers = [struct.unpack_from("<IIIIII", blob, shoff + i * shentsize)
               for i in range(shnum)]
    names_offset = headers[shstrndx][4]

    def name(index: int) -> str:
        start = names_offset + index
        return blob[start:blob.index(b"\0", start)].decode("ascii", "replace")

    return [_Section(name(n), kind, flags, address, size)
            for n, kind, flags, address, _offset, size in headers]


def elf_sizes(path: Path) -> ElfSizes:
    """Sizes of a 32-bit little-endian ELF file's allocated sections, by kind.

    A section named ``.stack`` (the linker scripts in boards/ reserve the stack there)
    counts as stack; other NOBITS sections as .bss; writable ones as .data; executable
    ones as code; the rest as constants.
    """
    sizes = dict(text=0, rodata=0, data=0, bss=0, stack=0)
    for section in _sections(path):
        if not section.flags & _SHF_ALLOC or section.size == 0:
            continue
        if section.name == ".stack":
            sizes["stack"] += section.size
        elif section.kind == _SHT_NOBITS:
            sizes["bss"] += section.size
        elif section.flags & _SHF_WRITE:
            sizes["data"] += section.size
        elif section.flags & _SHF_EXECINSTR:
            sizes["text"] += section.size
        else:
            sizes["rodata"] += section.size
    return ElfSizes(**sizes)


def check_fit(board: Board, sizes: ElfSizes, what: str, arena_bytes: int | None = None,
              test_input_bytes: int | None = None) -> None:
    """Raises BoardFitError when ``sizes`` exceed the board's flash or RAM (board.toml).
    ``arena_bytes`` and ``test_input_bytes`` (a harness's input vectors, in flash) only
    make the message say what the bytes are."""
    if sizes.flash_bytes > board.flash_size:
        inputs = f" incl. test inputs {test_input_bytes}" if test_input_bytes else ""
        raise BoardFitError(
            f"{what} does not fit {board.name}: it needs {sizes.flash_bytes} bytes of flash "
            f"(code {sizes.text} + constants {sizes.rodata}{inputs} + initialised data "
            f"{sizes.data}), the board has {board.flash_size}")
    if sizes.ram_bytes > board.ram_size:
        arena = f" incl. arena {arena_bytes}" if arena_bytes is not None else ""
        raise BoardFitError(
            f"{what} does not fit {board.name}: it needs {sizes.ram_bytes} bytes of RAM "
            f"(data {sizes.data} + bss {sizes.bss}{arena} + stack {sizes.stack}), "
            f"the board has {board.ram_size}")


def build_firmware(board: Board, sources: Sequence[Path], include_dirs: Sequence[Path],
                   workdir: Path, *, library_sources: Sequence[Path] = (),
                   library_include_dirs: Sequence[Path] = (), what: str = "firmware",
                   arena_bytes: int | None = None, test_input_bytes: int | None = None,
                   progress: Progress | None = stderr_progress) -> Firmware:
    """Compile ``sources`` with the board's startup code and link ``workdir/firmware.elf``.

    ``library_sources`` (the runtime), compiled with ``library_include_dirs`` only, are
    the same for every model: like the board's own files they go through the object
    cache. ``what`` names the firmware in messages, as do ``arena_bytes`` and
    ``test_input_bytes`` (see check_fit) when it does not fit. Raises ToolchainError
    when a tool is missing or a file does not compile, BoardFitError when the image
    exceeds the board's flash or RAM (checked before it ever runs).
    """
    board.require_tools()
    workdir = Path(workdir)
    objects_dir = workdir / "obj"
    objects_dir.mkdir(parents=True, exist_ok=True)
    # (source, include dirs, cacheable) for every file of the image.
    units = ([(s, [], True) for s in board.sources]
             + [(Path(s), list(map(Path, library_include_dirs)), True) for s in library_sources]
             + [(Path(s), list(map(Path, include_dirs)), False) for s in sources])
    if progress:
        progress(f"{board.name}: compiling {len(units)} files for {what} "
                 f"({board.cc} {board.optimize})")
    objects = [objects_dir / f"{i:03d}_{unit[0].stem}.o" for i, unit in enumerate(units)]
    cache = _object_cache_dir()
    compiler_id = _compiler_identity(board.cc)

    def compile_one(index: int) -> str | None:
        source, dirs, cacheable = units[index]
        flags = board.compile_flags() + [f"-I{d}" for d in dirs]
        # Headers it may include: beside it, in boards/common and in its include dirs.
        key = (_object_key(compiler_id, flags, source, [COMMON_DIR, *dirs])
               if cache is not None and cacheable else None)
        return _compile(board.cc, flags, source, objects[index], cache, key)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        errors = list(pool.map(compile_one, range(len(units))))
    for (source, _, _), error in zip(units, errors):
        if error is not None:
            raise ToolchainError(f"{source}: does not compile for {board.name}: {error}")

    elf = workdir / "firmware.elf"
    link = [board.cc, *board.link_flags(), *map(str, objects), "-o", str(elf)]
    result = _run(link)
    if result.returncode != 0:
        if not any(marker in result.stderr for marker in _REGION_OVERFLOW_MARKERS):
            raise ToolchainError(f"{what}: link for {board.name} failed: "
                                 f"{_first_error(result.stderr)}")
        # Too big for a memory region: link anyway to learn the sizes for the message.
        oversized = workdir / "oversized.elf"
        if _run(link[:-1] + [str(oversized), "-Wl,--noinhibit-exec"]).returncode != 0:
            raise ToolchainError(f"{what}: link for {board.name} failed: "
                                 f"{_first_error(result.stderr)}")
        check_fit(board, elf_sizes(oversized), what, arena_bytes, test_input_bytes)
        raise BoardFitError(f"{what} does not fit {board.name}: "
                            f"{_first_error(result.stderr)}")
    sizes = elf_sizes(elf)
    check_fit(board, sizes, what, arena_bytes, test_input_bytes)
    if progress:
        progress(f"{board.name}: linked {what} with its test harness and inputs: flash "
                 f"{sizes.flash_bytes} bytes, RAM {sizes.static_ram_bytes} bytes + "
                 f"{sizes.stack} reserved for the stack")
    return Firmware(board, elf, sizes)


def symbolize(board: Board, elf: Path, address: int) -> str | None:
    """The function (and source line, if known) at ``address`` in ``elf``; None when the
    address is not in its code."""
    in_code = any(s.flags & _SHF_EXECINSTR and s.address <= address < s.address + s.size
                  for s in _sections(elf))
    if not in_code:
        return None
    try:
        result = _run([f"{board.tool_prefix}addr2line", "-f", "-s", "-e", str(elf),
                       f"{address:#x}"])
    except OSError:
        return None
    lines = result.stdout.split()
    if result.returncode != 0 or not lines or lines[0] == "??":
        return None
    location = lines[1] if len(lines) > 1 and not lines[1].startswith("??") else None
    return f"{lines[0]} ({location})" if location else lines[0]


def _compile(cc: str, flags: list[str], source: Path, obj: Path, cache: Path | None,
             key: str | None) -> str | None:
    """Compiles ``source`` into ``obj``, reusing the cached object for ``key`` if any.
    Returns None on success, else the compiler's first error line."""
    cached = cache / f"{key}.o" if cache is not None and key is not None else None
    if cached is not None and cached.is_file():
        shutil.copyfile(cached, obj)
        return None
    result = _run([cc, *flags, "-c", str(source), "-o", str(obj)])
    if result.returncode != 0:
        return _first_error(result.stderr)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            fd, partial = tempfile.mkstemp(dir=cached.parent, suffix=".part")
            os.close(fd)
            shutil.copyfile(obj, partial)
            os.replace(partial, cached)  # atomic: parallel builds never see half a file
        except OSError:
            pass  # an unwritable cache only costs time
    return None


def _object_cache_dir() -> Path | None:
    """Where compiled objects are kept between builds; EDGEKD_CACHE=off disables it."""
    root = os.environ.get("EDGEKD_CACHE")
    if root == "off":
        return None
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"),
                            "edgekd")
    return Path(root) / "firmware"


def _object_key(compiler_id: str, flags: list[str], source: Path,
                header_dirs: Sequence[Path]) -> str:
    """A hash of everything an object depends on: compiler, flags, the source and every
    header it could include (beside it or under ``header_dirs``)."""
    digest = hashlib.sha256()
    digest.update(compiler_id.encode())
    digest.update("\0".join(flags).encode())
    digest.update(source.read_bytes())
    headers = sorted(source.parent.glob("*.h"))
    for directory in header_dirs:
        headers += sorted(Path(directory).rglob("*.h"))
    for header in headers:
        digest.update(str(header).encode() + b"\0" + header.read_bytes())
    return digest.hexdigest()[:32]


def _compiler_identity(cc: str) -> str:
    """The compiler's resolved path, size and modification time: a new compiler
    (a package upgrade) invalidates every cached object."""
    path = Path(shutil.which(cc) or cc).resolve()
    stat = path.stat()
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _first_error(stderr: str) -> str:
    """The compiler's or linker's first error line (or its first line), trimmed."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if _TOOL_ERROR.search(line)]
    first = (errors or lines or ["no message"])[0]
    return re.sub(r"^\S*/ld(\.bfd)?: ", "ld: ", first)[:400]
