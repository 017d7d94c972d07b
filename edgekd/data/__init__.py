"""Datasets: the built-in `digits`, keyword spotting (`kws`, `kws-small`, a Speech Commands
folder: edgekd/data/kws.py), user .npz files, and `pkg.module:function` entry points.

``load_dataset(spec)`` returns train/val/test splits of float32 inputs laid out as the model
takes them (N x C x H x W for images) and int64 labels (or None where a .npz has no `y`).
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekd.errors import EdgeKDError, first_line

SPLIT_SEED = 0  # the built-in splits never change between runs or machines


@dataclass
class Split:
    x: np.ndarray  # float32
    y: np.ndarray | None  # int64 labels

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int | None


def load_dataset(spec: str, val_fraction: float = 0.15, test_fraction: float = 0.15) -> Dataset:
    """`digits`, `kws`/`kws-small`/a directory (edgekd.data.kws), a path to a .npz with `x`
    (and optionally `y`), or `pkg.module:function`.

    An entry point returns a Dataset, or a tuple (x, y) of arrays that is split here.
    """
    if spec == "digits":
        return digits()
    from edgekd.data.kws import is_kws_spec, load_kws  # keyword spotting: kws, kws-small, DIR

    if is_kws_spec(spec):
        from edgekd.data.speech_commands import LABELS

        name, splits = load_kws(spec)
        return Dataset(name, *(Split(x, y) for x, y in splits), num_classes=len(LABELS))
    if spec.endswith(".npz"):
        return checked(spec, _from_npz(Path(spec), val_fraction, test_fraction))
    if ":" in spec:
        result = call_user_code(spec, load_entry_point(spec))
        if isinstance(result, Dataset):
            return checked(spec, result)
        if isinstance(result, tuple) and len(result) == 2:
            x, y = result
            return checked(spec, split_arrays(spec, np.asarray(x, np.float32),
                                              None if y is None else np.asarray(y, np.int64),
                                              val_fraction, test_fraction))
        raise EdgeKDError(f"{spec}: returned {type(result).__name__}; expected a Dataset or (x, y)")
    raise EdgeKDError(f"{spec}: unknown dataset; use 'digits', 'kws', 'kws-small', a Speech "
                      "Commands folder, a .npz file or pkg.module:function")


def checked(spec: str, dataset: Dataset) -> Dataset:
    """``dataset`` if training on it can work: a non-empty training split, finite inputs of
    at least two dimensions, labels in [0, num_classes); else a one-line error."""
    if len(dataset.train) == 0:
        total = sum(len(s) for s in (dataset.train, dataset.val, dataset.test))
        raise EdgeKDError(f"{spec}: the training split is empty ({total} samples in all)")
    for split_name in ("train", "val", "test"):
        split = getattr(dataset, split_name)
        if len(split) and split.x.ndim < 2:
            raise EdgeKDError(f"{spec}: inputs have shape {list(split.x.shape)}; expected "
                              "[N, ...] with the model's input shape after N")
        bad = np.flatnonzero(~np.isfinite(split.x.reshape(len(split), -1)).all(axis=1))
        if bad.size:
            raise EdgeKDError(f"{spec}: {split_name} sample {int(bad[0])} holds NaN or "
                              f"infinity ({bad.size} such samples)")
        if split.y is None or not len(split):
            continue
        low, high = int(split.y.min()), int(split.y.max())
        limit = dataset.num_classes
        if low < 0 or (limit is not None and high >= limit):
            raise EdgeKDError(f"{spec}: {split_name} label {low if low < 0 else high} is "
                              f"outside [0, {limit if limit is not None else 'classes'})")
    return dataset


def digits() -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, shipped with the package),
    scaled to [0, 1], as N x 1 x 8 x 8, with a fixed stratified 70/15/15 split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    return split_arrays("digits", x, y, 0.15, 0.15, num_classes=10)


def split_arrays(name: str, x: np.ndarray, y: np.ndarray | None, val_fraction: float,
                 test_fraction: float, num_classes: int | None = None) -> Dataset:
    """A deterministic split (stratified by label when there are labels)."""
    rng = np.random.default_rng(SPLIT_SEED)
    n = len(x)
    if n == 0:
        raise EdgeKDError(f"{name}: holds no samples")
    if y is None:
        order = rng.permutation(n)
        groups = [order]
    else:
        groups = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    train, val, test = [], [], []
    for idx in groups:
        n_val = int(round(len(idx) * val_fraction))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        val.append(idx[n_test:n_test + n_val])
        train.append(idx[n_test + n_val:])

    def take(parts: list[np.ndarray]) -> Split:
        idx = np.sort(np.concatenate(parts))
        return Split(x[idx], None if y is None else y[idx])

    if num_classes is None and y is not None and len(y):
        num_classes = int(y.max()) + 1
    return Dataset(name, take(train), take(val), take(test), num_classes)


def _from_npz(path: Path, val_fraction: float, test_fraction: float) -> Dataset:
    if not path.is_file():
        raise EdgeKDError(f"{path}: no such file")
    try:
        from edgekd.arrays import check_npz

        check_npz(path)
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data:
                raise EdgeKDError(f"{path}: no array named 'x' (found: {', '.join(data.files)})")
            x = np.asarray(data["x"], dtype=np.float32)
            y = np.asarray(data["y"], dtype=np.int64) if "y" in data else None
    except EdgeKDError:
        raise
    except Exception as e:  # zipfile, pickle refusal, bad header: all one user error
        raise EdgeKDError(f"{path}: not a readable .npz file ({e})") from None
    if y is not None and len(y) != len(x):
        raise EdgeKDError(f"{path}: {len(x)} inputs but {len(y)} labels")
    return split_arrays(path.stem, x, y, val_fraction, test_fraction)


def call_user_code(spec: str, function):
    """``function()`` from a user's entry point; what it raises is the user's error."""
    if not callable(function):
        raise EdgeKDError(f"{spec}: is a {type(function).__name__}, not a function")
    try:
        return function()
    except EdgeKDError:
        raise
    except Exception as e:
        raise EdgeKDError(f"{spec}: raised {type(e).__name__}: {first_line(e)}") from None


def load_entry_point(spec: str):
    """Import `pkg.module:attr` from the current directory or the Python path (like uvicorn)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise EdgeKDError(f"{spec}: expected pkg.module:name")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise EdgeKDError(f"{spec}: cannot import {module_name} ({e})") from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise EdgeKDError(f"{spec}: {module_name} has no attribute {attr!r}") from None
    return obj
