"""Reading a model file's bytes, with the one-line errors every reader gives."""
from __future__ import annotations

from pathlib import Path

from edgekd.errors import EdgeKDError


def read_model_bytes(path: Path) -> bytes:
    """The whole file at ``path``; EdgeKDError naming it when it is missing or unreadable."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise EdgeKDError(f"{path}: no such file") from None
    except OSError as error:
        raise EdgeKDError(f"{path}: cannot read: {error.strerror}") from None
