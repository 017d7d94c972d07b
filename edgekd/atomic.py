"""Atomic file writes: a failure never leaves a half-written file in place."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a binary stream on a temporary file beside ``path``; on success it is flushed to
    disk and renamed over ``path`` (mode 0644), on any exception it is deleted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes files private; outputs are ordinary files
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def swap_in_dir(staging: str | os.PathLike, target: str | os.PathLike) -> None:
    """Put the finished folder ``staging`` at ``target`` in one rename, after moving aside
    any folder there (deleted once the new one is in place)."""
    staging, target = Path(staging), Path(target)
    old = staging.with_name(staging.name + ".old")
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
