"""Corrupt .onnx bytes must give an EdgeKDError quickly: never another exception, a hang or
a crash. Seeded cases over a QDQ model (onnxruntime's quantize_static output, read straight
to the IR) and a float model (read and quantized with a few calibration samples)."""
from __future__ import annotations

import signal
import time
from contextlib import contextmanager

import numpy as np
import pytest

from edgekd.errors import EdgeKDError
from edgekd.frontends.onnx import OnnxSemanticsWarning, read_onnx
from edgekd.ir import Graph
from edgekd.zoo import DigitsCNN

from .onnx_models import digits, export_torch, quantize_with_onnxruntime, residual_net

SECONDS_PER_CASE = 3.0
pytestmark = pytest.mark.filterwarnings("ignore", category=OnnxSemanticsWarning)


class _TooSlow(Exception):
    pass


@contextmanager
def _time_limit(seconds: float):
    """Interrupt a case that runs too long (a hang becomes a test failure, not a stall)."""
    def expire(signum, frame):
        raise _TooSlow(f"reading took more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module", params=["qdq", "float"])
def model(request, tmp_path_factory):
    """(model bytes, read options)."""
    folder = tmp_path_factory.mktemp("fuzz")
    if request.param == "qdq":
        float_path = export_torch(DigitsCNN(width=4).eval(), folder / "f.onnx")
        path = quantize_with_onnxruntime(float_path, folder / "q.onnx", samples=8)
        return path.read_bytes(), {}
    path = export_torch(residual_net(), folder / "f.onnx")
    return path.read_bytes(), {"calib": digits().train.x[:4]}


def _read(data: bytes, options: dict) -> Graph | None:
    """The graph, or None for an EdgeKDError; anything else fails the test."""
    start = time.perf_counter()
    with _time_limit(SECONDS_PER_CASE):
        try:
            graph = read_onnx(data, source_name="fuzz.onnx", **options)
        except EdgeKDError as error:
            assert "\n" not in str(error) and str(error).startswith("fuzz.onnx: "), str(error)
            return None
    assert time.perf_counter() - start < SECONDS_PER_CASE
    return graph.validate()


def test_the_unchanged_model_reads(model):
    assert _read(*model) is not None


def test_truncations_are_errors(model):
    data, options = model
    offsets = sorted({*range(0, 32), *np.linspace(32, len(data) - 1, 120).astype(int)})
    outcomes = [_read(data[:offset], options) is None for offset in offsets]
    assert sum(outcomes) >= len(offsets) - 2  # only a cut of trailing metadata may still read


def test_flipped_bytes_never_crash(model):
    data, options = model
    rng = np.random.default_rng(1234)
    errors = 0
    for _ in range(150):
        corrupt = bytearray(data)
        for position in rng.integers(0, len(corrupt), rng.integers(1, 4)):
            corrupt[position] ^= int(rng.integers(1, 256))
        errors += _read(bytes(corrupt), options) is None
    assert errors > 0  # the cases reached the checks, not only weight bytes


def test_random_bytes_are_errors():
    rng = np.random.default_rng(5)
    for _ in range(150):
        data = rng.integers(0, 256, int(rng.integers(1, 4096)), dtype=np.uint8).tobytes()
        assert _read(data, {}) is None
