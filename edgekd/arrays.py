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
from edgekd.errors import EdgeKDError, first_line
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
                          f"{first_line(error)})") from None
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
