"""The MLPerf Tiny models (KWS DS-CNN, ResNet-8): every tensor the reference computes is
byte-identical to TFLM's, for 50 seeded random int8 inputs each.

Random inputs saturate the final softmax (one class at 127, the rest at -128), so the
output alone would say little; the intermediates carry the evidence.
"""
from __future__ import annotations

import numpy as np

from edgekd.frontends.tflite import read_tflite
from edgekd.interpreter import run_all
from edgekd.verify.tflm import run_tflm_tensors

SAMPLES = 50


def test_every_tensor_matches_tflm(mlperf_path):
    graph = read_tflite(mlperf_path)
    x = graph.tensor(graph.inputs[0])
    batch = np.random.default_rng(20240).integers(-128, 128, (SAMPLES, *x.shape), np.int8)
    expected = run_tflm_tensors(mlperf_path, batch)
    activations = [t.name for t in graph.activations()]
    assert set(activations) <= set(expected), "TFLM lacks tensors the reference computes"
    for index in range(SAMPLES):
        got = run_all(graph, [batch[index]])
        assert sorted(got) == sorted(activations)
        for name in activations:
            want = expected[name][index]
            assert got[name].dtype == want.dtype and got[name].shape == want.shape, name
            differ = int((got[name] != want).sum())
            assert differ == 0, (f"sample {index}, tensor {name!r}: {differ} of {want.size} "
                                 "values differ from TFLM")

