"""QUANTIZE and DEQUANTIZE at the model boundary: the reference against TFLM."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from edgekd.reference.params import QuantizeParams
from edgekd.reference.quantize import dequantize, quantize

from .single_op import assert_matches_tflm, dequantize_graph, quantize_graph
from .strategies import quants, seeds


@given(quant=quants, seed=seeds)
@settings(max_examples=100, deadline=None)
def test_quantize_matches_tflm(quant, seed):
    rng = np.random.default_rng(seed)
    scale, zp = quant
    shape = (1, 5, 4, 3)
    random = rng.normal(0.0, 100.0 * scale, size=(2, *shape))
    # Multiples of half a step sit on rounding ties (before the float32 division blurs
    # them); far values saturate.
    ties = (rng.integers(-300, 300, size=(2, *shape)) + 0.5) * scale
    far = rng.choice([-1e6, 1e6], size=(1, *shape)) * scale
    batch = np.concatenate([random, ties, far]).astype(np.float32)
    assert_matches_tflm(quantize_graph(shape, quant), batch)


@given(quant=quants)
@settings(max_examples=40, deadline=None)
def test_dequantize_matches_tflm(quant):
    every_value = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 256)
    assert_matches_tflm(dequantize_graph((1, 256), quant), every_value)


def test_quantize_rounds_half_away_and_saturates():
    p = QuantizeParams(scale=0.5, zero_point=-1)
    x = np.array([0.25, -0.25, 0.75, -0.75, 1e9, -1e9, np.inf, -np.inf, np.nan],
                 dtype=np.float32)
    assert quantize(p, x).tolist() == [0, -2, 1, -3, 127, -128, 127, -128, -1]


def test_dequantize_by_hand():
    p = QuantizeParams(scale=0.25, zero_point=3)
    out = dequantize(p, np.array([3, 4, -128], dtype=np.int8))
    assert out.dtype == np.float32 and out.tolist() == [0.0, 0.25, -32.75]
