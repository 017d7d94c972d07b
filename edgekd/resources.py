"""Where edgekd finds the files it needs at run time: the Jinja templates, the C runtime,
the board descriptions and the CMake package.

An installed wheel carries them as package data under ``edgekd/_data/`` (setup.py copies the
checkout's top-level folders there at build time); a checkout (or an editable install) has
them beside the package. Every path edgekd uses comes from here, never from ``__file__``
elsewhere.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# The folders setup.py ships, named as in the checkout.
DATA_FOLDERS = ("templates", "runtime_c", "boards", "cmake")


def data_dir(folder: str) -> Path:
    """The installed copy of ``folder`` when there is one, else the checkout's."""
    if folder not in DATA_FOLDERS:
        raise ValueError(f"{folder!r} is not one of edgekd's data folders {DATA_FOLDERS}")
    installed = _PACKAGE / "_data" / folder
    return installed if installed.is_dir() else _PACKAGE.parent / folder


TEMPLATES_DIR = data_dir("templates")
RUNTIME_DIR = data_dir("runtime_c")
BOARDS_DIR = data_dir("boards")
CMAKE_DIR = data_dir("cmake")


def check_installation() -> None:
    """Raises InstallationError when a data folder is missing (a wheel built without
    setup.py's copy, or a stripped checkout): better than an empty board list later."""
    from edgekd.errors import InstallationError

    missing = [str(data_dir(folder)) for folder in DATA_FOLDERS if not data_dir(folder).is_dir()]
    if missing:
        raise InstallationError(f"edgekd's data files are missing ({', '.join(missing)}): "
                                "a broken installation; reinstall edgekd")
