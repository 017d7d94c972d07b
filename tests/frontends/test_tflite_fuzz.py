"""Corrupt .tflite bytes must give an EdgeKDError quickly: never a crash, hang or huge alloc.

Seeded random cases over a real model (KWS, when ../shared is present) and a synthetic one
that covers every supported op. A case that still parses (a flipped weight byte) must give
a graph the writer accepts.
"""
from __future__ import annotations

import signal
import time
from contextlib import contextmanager

import numpy as np
import pytest

from edgekd.errors import EdgeKDError
from edgekd.frontends.tflite import read_tflite, write_tflite
from edgekd.ir import Graph

from .tflite_models import all_ops_graph, assert_same_graph

SECONDS_PER_CASE = 2.0


class _TooSlow(Exception):
    pass


@contextmanager
def _time_limit(seconds: float):
    """Interrupt a case that runs too long (a hang becomes a test failure, not a stall)."""
    def expire(signum, frame):
        raise _TooSlow(f"parsing took more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _read(data: bytes) -> Graph | None:
    """The graph (checked by the writer) or None for an EdgeKDError; anything else fails."""
    start = time.perf_counter()
    with _time_limit(SECONDS_PER_CASE):
        try:
            graph = read_tflite(data, source_name="fuzz.tflite")
        except EdgeKDError as error:
            assert "\n" not in str(error) and str(error).startswith("fuzz.tflite: ")
            return None
        write_tflite(graph)
    assert time.perf_counter() - start < SECONDS_PER_CASE
    return graph


@pytest.fixture(params=["synthetic", "kws"])
def model_bytes(request) -> bytes:
    if request.param == "kws":
        from tests.conftest import mlperf_model
        return mlperf_model("kws").read_bytes()
    return write_tflite(all_ops_graph())


def test_truncations_are_errors(model_bytes):
    """A truncated file is an error, unless the cut removed only alignment padding that
    no field covers: then the graph must be exactly the full file's."""
    full = read_tflite(model_bytes, source_name="fuzz.tflite")
    offsets = sorted({*range(0, 64), *np.linspace(64, len(model_bytes) - 1, 300).astype(int)})
    errors = 0
    for offset in offsets:
        graph = _read(model_bytes[:offset])
        if graph is None:
            errors += 1
        else:
            assert offset > len(model_bytes) - 16, offset
            assert_same_graph(full, graph)
    assert errors >= len(offsets) - 4


def test_flipped_bytes_never_crash(model_bytes):
    rng = np.random.default_rng(1234)
    outcomes = []
    for _ in range(250):
        data = bytearray(model_bytes)
        for position in rng.integers(0, len(data), rng.integers(1, 4)):
            data[position] ^= int(rng.integers(1, 256))
        outcomes.append(_read(bytes(data)) is None)
    assert any(outcomes)  # the cases reached the checks, not only weight bytes


def test_flipped_header_and_table_bytes_never_crash(model_bytes):
    """A change to each of the first 320 bytes (root table, vtables, offsets)."""
    rng = np.random.default_rng(99)
    for position in range(min(320, len(model_bytes))):
        data = bytearray(model_bytes)
        data[position] ^= int(rng.integers(1, 256))
        _read(bytes(data))


def test_random_bytes_are_errors():
    rng = np.random.default_rng(5)
    for _ in range(200):
        data = bytearray(rng.integers(0, 256, int(rng.integers(8, 4096)), dtype=np.uint8))
        if rng.random() < 0.8:
            data[4:8] = b"TFL3"  # get past the identifier check into the flatbuffer
        assert _read(bytes(data)) is None
