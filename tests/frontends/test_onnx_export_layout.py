"""The layout ops and integer QUANTIZE written as QDQ ONNX: onnxruntime's outputs equal the
reference's byte for byte (values only move, so no rounding differs)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.frontends.onnx_export import write_onnx
from edgekd.interpreter import run
from tests.reference.test_layout import (
    concatenation_cases, gather_cases, pad_cases, resize_nearest_cases, strided_slice_cases,
    tile_cases, transpose_cases,
)
from tests.verify.test_io_types import mixed_io_graph


def run_onnxruntime_all(data: bytes, graph, sample: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = {}
    for name, array in zip(graph.inputs, sample):
        feeds[name] = array.transpose(0, 3, 1, 2) if array.ndim == 4 else array
    outputs = session.run(list(graph.outputs), feeds)
    return [y.transpose(0, 2, 3, 1) if y.ndim == 4 else y for y in outputs]


@pytest.mark.parametrize("cases", [pad_cases, concatenation_cases, strided_slice_cases,
                                   transpose_cases, tile_cases, resize_nearest_cases,
                                   gather_cases],
                         ids=lambda c: c.__name__)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_layout_ops_export_to_onnx_exactly(cases, data, seed):
    graph = data.draw(cases())
    rng = np.random.default_rng(seed)
    sample = [rng.integers(-128, 128, size=graph.tensor(n).shape).astype(np.int8)
              for n in graph.inputs]
    got = run_onnxruntime_all(write_onnx(graph), graph, sample)
    assert got[0].tobytes() == run(graph, sample)[0].tobytes()


def test_uint8_boundaries_export_to_onnx():
    graph = mixed_io_graph()
    rng = np.random.default_rng(1)
    sample = [rng.integers(0, 256, size=graph.tensor("x_u8").shape).astype(np.uint8),
              rng.uniform(-3, 3, size=graph.tensor("x_f32").shape).astype(np.float32)]
    got = run_onnxruntime_all(write_onnx(graph), graph, sample)
    want = run(graph, sample)
    assert got[0].dtype == np.uint8
    # onnxruntime's float ADD may round a code its own way (docs/onnx.md); the uint8 and
    # float boundaries themselves are exact
    assert np.abs(got[0].astype(int) - want[0].astype(int)).max() <= 1
