"""The emulated boards edgekd verifies generated code on, one ``boards/<name>/board.toml``
each: the QEMU machine, the cross compiler and its flags, the C library, the memory map
and the instruction counter. ``board.toml`` is the one source of these facts for Python;
the board's ``link.ld`` repeats the memory map for the linker (a test keeps them equal).
"""
from __future__ import annotations

import functools
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from edgekd.errors import EdgeKDError, ToolchainError
from edgekd.resources import BOARDS_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

COMMON_DIR = BOARDS_DIR / "common"

# The spec file that selects each C library in the cross compilers.
LIBC_SPECS = {"picolibc": "picolibc.specs", "newlib": "nano.specs"}
ARCHES = ("arm", "riscv")


@dataclass(frozen=True)
class Board:
    """One emulated board, as its board.toml describes it. Sizes and addresses in bytes."""

    name: str
    description: str
    core: str  # e.g. "Cortex-M4F", for people
    arch: str  # "arm" or "riscv"
    directory: Path
    qemu_binary: str
    qemu_machine: str
    qemu_args: tuple[str, ...]
    cc: str
    cflags: tuple[str, ...]
    optimize: str  # "-O2" or "-Os"
    libc: str  # "picolibc" or "newlib"
    debian_packages: tuple[str, ...]
    flash_base: int
    flash_size: int
    ram_base: int
    ram_size: int
    stack_size: int
    counter_kind: str
    instructions_per_tick: float  # 1e9 / counter clock under -icount shift=0
    linker_script: Path
    sources: tuple[Path, ...]  # startup, console, counter: linked into every firmware
    defines: tuple[tuple[str, str], ...]

    @property
    def tool_prefix(self) -> str:
        """The cross tools' prefix, e.g. ``arm-none-eabi-`` for ``arm-none-eabi-gcc``."""
        return self.cc[: -len("gcc")] if self.cc.endswith("gcc") else ""

    @property
    def counter_resolution(self) -> int:
        """Instructions one counter tick stands for, rounded up: the counting error bound."""
        return math.ceil(self.instructions_per_tick)

    def compile_flags(self) -> list[str]:
        """Flags for every C and assembly file of this board's firmware (-g: fault reports
        name the source line; debug info never reaches flash)."""
        flags = [f"--specs={LIBC_SPECS[self.libc]}", *self.cflags, self.optimize, "-g",
                 "-ffunction-sections", "-fdata-sections", f"-I{COMMON_DIR}"]
        flags += [f"-D{name}={value}" for name, value in self.defines]
        return flags

    def link_flags(self) -> list[str]:
        """Flags that link this board's firmware: own startup, own linker script."""
        return [f"--specs={LIBC_SPECS[self.libc]}", *self.cflags, "-nostartfiles",
                f"-L{COMMON_DIR}", f"-T{self.linker_script}",
                f"-Wl,--defsym=__ekd_stack_size={self.stack_size}", "-Wl,--gc-sections"]

    def qemu_command(self, elf: Path) -> list[str]:
        """The QEMU command line that runs ``elf`` with one virtual ns per instruction."""
        return [self.qemu_binary, "-machine", self.qemu_machine, "-nographic",
                "-icount", "shift=0", *self.qemu_args, "-kernel", str(elf)]

    def toolchain_installed(self) -> bool:
        """True when the cross compiler and the board's C library are installed."""
        return shutil.which(self.cc) is not None and _libc_installed(self.cc, self.libc)

    def emulator_installed(self) -> bool:
        return shutil.which(self.qemu_binary) is not None

    def missing_tools(self) -> list[str]:
        """What this board needs and this machine lacks: compiler, C library, emulator."""
        missing = []
        if shutil.which(self.cc) is None:
            missing.append(self.cc)
        elif not _libc_installed(self.cc, self.libc):
            missing.append(f"{self.libc} for {self.cc}")
        if not self.emulator_installed():
            missing.append(self.qemu_binary)
        return missing

    def require_tools(self) -> None:
        """Raises ToolchainError naming what is missing and the Debian packages to install."""
        missing = self.missing_tools()
        if missing:
            raise ToolchainError(
                f"board {self.name}: {', '.join(missing)} not installed; install the Debian "
                f"packages {' '.join(self.debian_packages)} (scripts/system-packages.sh)")


@functools.lru_cache(maxsize=None)
def _libc_installed(cc: str, libc: str) -> bool:
    # gcc prints the bare name back when it cannot find the file.
    spec_file = LIBC_SPECS[libc]
    try:
        found = subprocess.run([cc, f"-print-file-name={spec_file}"], capture_output=True,
                               text=True, check=False).stdout.strip()
    except OSError:
        return False
    return found != spec_file and Path(found).is_file()


def board_names() -> list[str]:
    """Names of the boards in ``boards/``, sorted."""
    return sorted(p.parent.name for p in BOARDS_DIR.glob("*/board.toml"))


def list_boards() -> list[Board]:
    """Every board in ``boards/``, sorted by name."""
    return [load_board(name) for name in board_names()]


def load_board(name_or_path: str | Path) -> Board:
    """The board called ``name_or_path`` in ``boards/``, or the board.toml (or its folder)
    at that path. Raises EdgeKDError for an unknown board or a malformed board.toml."""
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "board.toml"
    elif not path.is_file():
        path = BOARDS_DIR / str(name_or_path) / "board.toml"
        if not path.is_file():
            raise EdgeKDError(f"unknown board {str(name_or_path)!r}; boards: "
                              f"{', '.join(board_names())}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise EdgeKDError(f"{path}: not valid TOML: {error}") from None
    return _board_from_toml(path, data)


def _board_from_toml(path: Path, data: dict) -> Board:
    def field(table: str | None, key: str, kind: type | tuple[type, ...]):
        section = data if table is None else data.get(table, {})
        where = key if table is None else f"{table}.{key}"
        if key not in section:
            raise EdgeKDError(f"{path}: missing {where}")
        value = section[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise EdgeKDError(f"{path}: {where} has the wrong type ({value!r})")
        return value

    directory = path.parent
    name = field(None, "name", str)
    if name != directory.name:
        raise EdgeKDError(f"{path}: name {name!r} differs from its folder {directory.name!r}")
    arch = field(None, "arch", str)
    if arch not in ARCHES:
        raise EdgeKDError(f"{path}: arch {arch!r} is not one of {', '.join(ARCHES)}")
    libc = field("toolchain", "libc", str)
    if libc not in LIBC_SPECS:
        raise EdgeKDError(f"{path}: toolchain.libc {libc!r} is not one of "
                          f"{', '.join(LIBC_SPECS)}")
    optimize = field("toolchain", "optimize", str)
    if optimize not in ("-O0", "-O1", "-O2", "-O3", "-Os", "-Oz"):
        raise EdgeKDError(f"{path}: toolchain.optimize {optimize!r} is not an -O flag")
    sources = tuple((BOARDS_DIR / s).resolve() for s in field("firmware", "sources", list))
    linker_script = (directory / field("firmware", "linker_script", str)).resolve()
    for file in (*sources, linker_script):
        if not file.is_file():
            raise EdgeKDError(f"{path}: {file} does not exist")
    defines = field("firmware", "defines", dict)
    instructions_per_tick = float(field("counter", "instructions_per_tick", (int, float)))
    if instructions_per_tick <= 0:
        raise EdgeKDError(f"{path}: counter.instructions_per_tick must be positive")
    sizes = {key: field("memory", key, int) for key in
             ("flash_base", "flash_size", "ram_base", "ram_size", "stack_size")}
    return Board(
        name=name,
        description=field(None, "description", str),
        core=field(None, "core", str),
        arch=arch,
        directory=directory,
        qemu_binary=field("qemu", "binary", str),
        qemu_machine=field("qemu", "machine", str),
        qemu_args=tuple(str(a) for a in field("qemu", "args", list)),
        cc=field("toolchain", "cc", str),
        cflags=tuple(str(f) for f in field("toolchain", "cflags", list)),
        optimize=optimize,
        libc=libc,
        debian_packages=tuple(field("toolchain", "debian_packages", list)),
        counter_kind=field("counter", "kind", str),
        instructions_per_tick=instructions_per_tick,
        linker_script=linker_script,
        sources=sources,
        defines=tuple((str(k), str(v)) for k, v in defines.items()),
        **sizes,
    )


def board_status(board: Board) -> dict:
    """A board's facts and whether this machine can build and run it, for ``edgekd boards``."""
    missing = board.missing_tools()
    return {
        "name": board.name,
        "description": board.description,
        "core": board.core,
        "arch": board.arch,
        "flash_bytes": board.flash_size,
        "ram_bytes": board.ram_size,
        "stack_bytes": board.stack_size,
        "libc": board.libc,
        "counter": board.counter_kind,
        "instructions_per_tick": board.instructions_per_tick,
        "toolchain_installed": board.toolchain_installed(),
        "emulator_installed": board.emulator_installed(),
        "missing": missing,
    }


def format_boards_table(statuses: list[dict]) -> str:
    """``edgekd boards`` as a text table, one row per board."""
    header = ("board", "core", "flash", "RAM", "libc", "counter (instructions/tick)",
              "toolchain", "emulator")
    rows = [header] + [(
        s["name"], s["core"], _kib(s["flash_bytes"]), _kib(s["ram_bytes"]), s["libc"],
        f"{s['counter']} ({s['instructions_per_tick']:g})",
        "yes" if s["toolchain_installed"] else "MISSING",
        "yes" if s["emulator_installed"] else "MISSING",
    ) for s in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in rows]
    missing = [f"{s['name']}: missing {', '.join(s['missing'])}" for s in statuses if s["missing"]]
    return "\n".join(lines + missing)


def _kib(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"
