"""Front ends: model files in, ``ir.Graph`` out.

``load_model`` picks the reader from the file suffix. Readers are imported on use, so a
format's dependencies load only when a file of that format is read.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path

from edgekd.atomic import atomic_file
from edgekd.errors import EdgeKDError, UnsupportedError
from edgekd.ir import Graph

# Suffix -> "module:function" of the reader; a new format is one line here.
READERS = {
    ".tflite": "edgekd.frontends.tflite:read_tflite",
    ".onnx": "edgekd.frontends.onnx:read_onnx",
}
# Suffix -> "module:function" turning a Graph into the file's bytes.
WRITERS = {
    ".tflite": "edgekd.frontends.tflite:write_tflite",
    ".onnx": "edgekd.frontends.onnx_export:write_onnx",
}


def load_model(path: str | os.PathLike, **options) -> Graph:
    """Read a model file into a validated Graph; ``options`` go to the format's reader."""
    path = Path(path)
    if not path.is_file():
        raise EdgeKDError(f"{path}: no such file")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnsupportedError(f"{path}: unknown model format {path.suffix or '(no suffix)'!r}; "
                               f"supported: {', '.join(READERS)}")
    module, function = reader.split(":")
    return getattr(importlib.import_module(module), function)(path, **options)


def save_model(graph: Graph, path: str | os.PathLike) -> Path:
    """Write ``graph`` in the format of the path's suffix, through a temporary file renamed
    into place, so a failure never leaves a partial file."""
    path = Path(path)
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise UnsupportedError(f"{path}: cannot write {path.suffix or '(no suffix)'!r} "
                               f"models; supported: {', '.join(WRITERS)}")
    module, function = writer.split(":")
    data = getattr(importlib.import_module(module), function)(graph)
    with atomic_file(path) as f:
        f.write(data)
    return path


__all__ = ["READERS", "WRITERS", "load_model", "save_model"]
