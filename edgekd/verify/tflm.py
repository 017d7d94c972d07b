"""The oracle: run a .tflite in TensorFlow Lite Micro's reference kernels.

edgekd's reference and generated C must reproduce these bytes exactly. ``tflite-micro`` is
the ``oracle`` extra (nightly builds for Linux x86-64 only), so it is imported only inside
the functions that need it; without it verify still checks the numpy reference and says so.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from edgekd.errors import EdgeKDError, ModelFormatError

# The interpreter needs its arena size up front; on "failed to allocate" we retry larger.
_FIRST_ARENA_BYTES = 64 * 1024
_MAX_ARENA_BYTES = 1 << 30
_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
# How verify reports the oracle it could not run.
NOT_INSTALLED = "tflm: not run (tflite-micro is not installed: pip install 'edgekd[oracle]')"


def tflm_installed() -> bool:
    """Whether the tflite-micro package (the second oracle) can be imported."""
    import importlib.util

    return importlib.util.find_spec("tflite_micro") is not None


def run_tflm(model: bytes | str | os.PathLike,
             inputs: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run a batch through TFLM, one invoke per sample, on one interpreter.

    ``inputs`` holds one array per model input, each ``[N, *input_shape]`` (a bare array
    is accepted for a one-input model). Returns one array per model output, each
    ``[N, *output_shape]``.
    """
    from edgekd.frontends.tflite import io_tensor_indices

    data, label = _model_bytes(model)
    input_indices, output_indices = io_tensor_indices(data, label)
    interpreter = _interpreter(data, label, preserve_all_tensors=False)
    results: list[list[np.ndarray]] = [[] for _ in output_indices]
    for sample in _samples(interpreter, label, len(input_indices), inputs):
        _invoke(interpreter, label, sample)
        for k, result in enumerate(results):
            result.append(np.array(interpreter.get_output(k), copy=True))
    return [np.stack(r) for r in results]


def run_tflm_tensors(model: bytes | str | os.PathLike,
                     inputs: np.ndarray | Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Every tensor TFLM holds after each invoke, keyed by the IR tensor name.

    Inputs as for run_tflm; each value is ``[N, *tensor_shape]``. Uses TFLM's
    kPreserveAllTensors mode, which gives each tensor its own memory so intermediate
    activations survive the invoke; names come from ``frontends.tflite.tensor_names``.
    """
    from edgekd.frontends.tflite import io_tensor_indices, tensor_names

    data, label = _model_bytes(model)
    names = tensor_names(data, label)
    n_inputs = len(io_tensor_indices(data, label)[0])
    interpreter = _interpreter(data, label, preserve_all_tensors=True)
    results: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for sample in _samples(interpreter, label, n_inputs, inputs):
        _invoke(interpreter, label, sample)
        for index, name in enumerate(names):
            tensor = interpreter.GetTensor(index, 0)
            results[name].append(np.array(tensor["tensor_data"], copy=True))
    return {name: np.stack(values) for name, values in results.items()}


def tflm_arena_bytes(model: bytes | str | os.PathLike) -> int:
    """Bytes of tensor arena TFLM allocates for the model (its RecordingMicroAllocator).

    Parsed from what ``print_allocations()`` writes to the C stderr stream.
    """
    from edgekd.frontends.tflite import io_tensor_indices

    data, label = _model_bytes(model)
    io_tensor_indices(data, label)  # refuse a corrupt file before the C++ side sees it
    interpreter = _interpreter(data, label, preserve_all_tensors=False)
    with _native_stderr() as captured:
        interpreter.print_allocations()
    match = _ARENA_TOTAL.search(captured.text)
    if match is None:
        raise EdgeKDError(f"{label}: TFLM printed no arena total: {_one_line(captured.text)}")
    return int(match.group(1))


def tflm_oracle(model: str | os.PathLike, inputs: np.ndarray | Sequence[np.ndarray],
                every_tensor: bool
                ) -> tuple[dict[str, np.ndarray] | list[np.ndarray], int]:
    """(``run_tflm_tensors`` or ``run_tflm``, ``tflm_arena_bytes``) of ``model``, run in a
    child process (edgekd/verify/isolated.py): a crash inside TFLM raises OracleCrashed
    instead of killing the caller."""
    from edgekd.verify.isolated import call_isolated

    return call_isolated(_oracle, str(model), inputs, every_tensor, label=str(model))


def _oracle(model: str, inputs: np.ndarray, every_tensor: bool):
    run = run_tflm_tensors if every_tensor else run_tflm
    return run(model, inputs), tflm_arena_bytes(model)


def _model_bytes(model) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model), "<bytes>"
    path = Path(model)
    if not path.is_file():
        raise EdgeKDError(f"{path}: no such file")
    return path.read_bytes(), str(path)


def _samples(interpreter, label: str, n_inputs: int,
             inputs) -> Iterator[list[np.ndarray]]:
    """Check the batches against the model's inputs, then yield one sample at a time."""
    batches = [inputs] if isinstance(inputs, np.ndarray) else [np.asarray(b) for b in inputs]
    if len(batches) != n_inputs:
        raise EdgeKDError(f"{label}: the model has {n_inputs} input(s), got {len(batches)}")
    for k, batch in enumerate(batches):
        details = interpreter.get_input_details(k)
        shape = tuple(int(d) for d in details["shape"])
        dtype = np.dtype(details["dtype"])
        if batch.shape[1:] != shape or batch.dtype != dtype:
            raise EdgeKDError(f"{label}: input {k} must be {dtype} [N, "
                              f"{', '.join(map(str, shape))}], got {batch.dtype} "
                              f"{list(batch.shape)}")
    sizes = {len(b) for b in batches}
    if len(sizes) > 1:
        raise EdgeKDError(f"{label}: inputs have different batch sizes {sorted(sizes)}")
    for n in range(sizes.pop() if sizes else 0):
        yield [np.ascontiguousarray(b[n]) for b in batches]


def _invoke(interpreter, label: str, sample: list[np.ndarray]) -> None:
    # Each sample is one whole inference: reset puts variable tensors (an LSTM's hidden and
    # cell state) back to their initial values, as the reference starts every invoke.
    interpreter.reset()
    for k, x in enumerate(sample):
        interpreter.set_input(x, k)
    with _native_stderr() as captured:
        try:
            interpreter.invoke()
        except RuntimeError as error:
            raise EdgeKDError(f"{label}: TFLM invoke failed: {error}; "
                              f"{_one_line(captured.text)}") from None


def _interpreter(data: bytes, label: str, preserve_all_tensors: bool):
    """A TFLM interpreter with tensors allocated, growing the arena until it fits."""
    from tflite_micro import runtime

    config = (runtime.InterpreterConfig.kPreserveAllTensors if preserve_all_tensors
              else runtime.InterpreterConfig.kAllocationRecording)
    arena = max(_FIRST_ARENA_BYTES, 10 * len(data))
    while True:
        with _native_stderr() as captured:
            try:
                return runtime.Interpreter.from_bytes(data, arena_size=arena,
                                                      intrepreter_config=config)
            except RuntimeError as error:
                failure = f"{error}; {_one_line(captured.text)}"
            except Exception as error:  # the wrapper parses the flatbuffer in Python first
                raise ModelFormatError(f"{label}: TFLM cannot load the model: "
                                       f"{type(error).__name__}: {error}") from None
        if "allocate" not in failure or arena >= _MAX_ARENA_BYTES:
            raise EdgeKDError(f"{label}: TFLM cannot prepare the model: {failure}")
        arena *= 4


def _one_line(text: str, limit: int = 300) -> str:
    """TFLM's printed diagnostics squeezed into one line for an error message."""
    return " ".join(text.split())[:limit]


class _Captured:
    text = ""


@contextlib.contextmanager
def _native_stderr() -> Iterator[_Captured]:
    """Capture what C/C++ code writes to file descriptor 2 (TFLM's MicroPrintf)."""
    libc = ctypes.CDLL(None)
    captured = _Captured()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            libc.fflush(None)
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", errors="replace")
