"""User arrays in and out of .npy/.npz files, checked against a graph's inputs.

A graph input of shape S takes either one sample (an array of shape S) or a batch (shape
[N, *S]); ``run_reference`` runs each sample through the numpy reference and stacks.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from edgekd.atomic import atomic_file
from edgekd.budgets import TENSOR
from edgekd.errors import EdgeKDError
from edgekd.ir import Graph


def load_array(path: str | os.PathLike) -> np.ndarray:
    """One array from a .npy file (no pickles), its header checked against the file's
    size and the tensor budget (edgekd/budgets.py) before anything is allocated."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            if stream.read(4) == b"PK\x03\x04":
                raise EdgeKDError(f"{path}: holds several arrays (an .npz); pass one .npy per "
                                  "model input")
            stream.seek(0)
            check_npy_header(stream, str(path), os.fstat(stream.fileno()).st_size)
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise EdgeKDError(f"{path}: no such file") from None
    except EdgeKDError:
        raise
    except Exception as error:  # numpy's header parser raises many kinds
        raise EdgeKDError(f"{path}: not a .npy array file ({type(error).__name__}: "
                          f"{_one_line(error)})") from None
    if not isinstance(array, np.ndarray):
        raise EdgeKDError(f"{path}: holds several arrays; pass one .npy per model input")
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        # QUANTIZE has no defined result for them (TFLM and C disagree on NaN).
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise EdgeKDError(f"{path}: {bad} value(s) are NaN or infinite; inputs must be finite")
    return array


def check_npy_header(stream, label: str, available: int) -> None:
    """Read a .npy header from ``stream`` and refuse, before any allocation, an object
    array, an array above the tensor budget, or one longer than the ``available`` bytes
    that hold it."""
    version = np.lib.format.read_magic(stream)
    readers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise EdgeKDError(f"{label}: .npy format version {version[0]}.{version[1]} is not "
                          "supported")
    shape, _, dtype = readers[version](stream)
    if dtype.hasobject:
        raise EdgeKDError(f"{label}: holds Python objects (pickles), which edgekd never loads")
    count = 1
    for extent in shape:
        count *= int(extent)
    nbytes = count * dtype.itemsize
    TENSOR.check(label, nbytes, f"an array {dtype} {list(shape)}")
    if nbytes > available - stream.tell():
        raise EdgeKDError(f"{label}: the header claims {dtype} {list(shape)} ({nbytes} bytes), "
                          f"the file holds {max(0, available - stream.tell())}")


def check_npz(path: Path) -> None:
    """Check every .npy member of a .npz file as ``check_npy_header`` does."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.filename.endswith(".npy"):
                with archive.open(info) as stream:
                    check_npy_header(stream, f"{path}: array {info.filename[:-4]!r}",
                                     info.file_size)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:200]


def run_reference(graph: Graph, arrays: list[np.ndarray],
                  labels: list[str] | None = None) -> list[np.ndarray]:
    """Outputs of the numpy reference for one sample or a batch per graph input.

    Raises EdgeKDError naming the expected dtype and shape when an array does not fit;
    ``labels`` (e.g. file names) name the arrays in that message.
    """
    from edgekd.interpreter import run

    labels = labels or [f"input {k}" for k in range(len(arrays))]
    if len(arrays) != len(graph.inputs):
        raise EdgeKDError(f"graph {graph.name!r} has {len(graph.inputs)} input(s) "
                          f"{graph.inputs}, got {len(arrays)} array(s)")
    batch_sizes = set()
    for array, label, name in zip(arrays, labels, graph.inputs):
        t = graph.tensor(name)
        single, batched = array.shape == t.shape, array.shape[1:] == t.shape
        if array.dtype != np.dtype(t.dtype) or not (single or batched):
            raise EdgeKDError(f"{label}: input {name!r} must be {t.dtype} {list(t.shape)} "
                              f"(or a batch [N, {', '.join(map(str, t.shape))}]), got "
                              f"{array.dtype} {list(array.shape)}")
        batch_sizes.add(None if single else array.shape[0])
    if len(batch_sizes) > 1:
        raise EdgeKDError(f"inputs mix single samples and batch sizes: {labels}")
    batch = batch_sizes.pop() if batch_sizes else None
    if batch is None:
        return run(graph, arrays)
    results = [run(graph, [a[n] for a in arrays]) for n in range(batch)]
    return [np.stack([r[k] for r in results]) for k in range(len(graph.outputs))]


def save_arrays(path: str | os.PathLike, named: dict[str, np.ndarray]) -> Path:
    """Write one array to .npy, or several by name to .npz; atomic (temp file + rename)."""
    path = Path(path)
    if path.suffix != ".npz" and len(named) != 1:
        raise EdgeKDError(f"{path}: the model has {len(named)} outputs; write them to a .npz")
    if not path.parent.is_dir():
        raise EdgeKDError(f"{path}: folder {path.parent} does not exist")
    with atomic_file(path) as f:
        if path.suffix == ".npz":
            np.savez(f, **named)
        else:
            np.save(f, next(iter(named.values())), allow_pickle=False)
    return path
