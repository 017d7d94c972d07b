"""edgekd/quant/fake.py: the grids, against TFLite's definitions and the reference kernels."""
from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.quant.fake import (
    activation_qparams,
    bias_scales,
    channel_multipliers,
    quantize_activation,
    quantize_bias,
    quantize_weights,
    representable_range,
    requantize,
    round_half_away_tensor,
    straight_through,
    weight_scales,
)
from edgekd.interpreter import run
from edgekd.reference.requantize import multiply_by_quantized_multiplier, quantize_multiplier


def test_round_half_away_on_ties_and_float32_edge():
    x = torch.tensor([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 0.0, 3.2])
    assert round_half_away_tensor(x).tolist() == [1, -1, 2, -2, 3, -3, 0, 0, 0, 3]


@given(st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=50))
@settings(max_examples=100, deadline=None)
def test_round_half_away_is_c_round(values):
    x = torch.tensor(values, dtype=torch.float32)
    # In float64, |v| + 0.5 is exact for these float32 values: C's round() by definition.
    expected = [math.copysign(math.floor(abs(v) + 0.5), v)
                for v in np.float32(values).astype(np.float64)]
    assert round_half_away_tensor(x).double().tolist() == expected


@given(low=st.floats(-50, 50), width=st.floats(0, 100))
@settings(max_examples=200, deadline=None)
def test_activation_grid_covers_range_and_zero(low, width):
    high = low + width
    scale, zp = activation_qparams(low, high)
    assert scale == float(np.float32(scale)) and scale > 0
    assert -128 <= zp <= 127 and isinstance(zp, int)
    lo, hi = representable_range(scale, zp)
    # 0 is a grid point; the range (widened to 0) is covered to within half a step.
    assert lo <= 0 <= hi
    assert lo <= min(low, 0) + scale / 2 and hi >= max(high, 0) - scale / 2


def test_relu_output_grid_starts_at_zero():
    assert activation_qparams(0.0, 6.0) == (float(np.float32(6 / 255)), -128)


def _quantize_graph(scale: float, zero_point: int, n: int) -> Graph:
    tensors = {"x": Tensor("x", (n,), "float32"),
               "y": Tensor("y", (n,), "int8", QuantParams.per_tensor(scale, zero_point))}
    return Graph("q", tensors, [Node("QUANTIZE", "q", ["x"], ["y"])], ["x"], ["y"]).validate()


@given(seed=st.integers(0, 2**32 - 1), low=st.floats(-8, 0), high=st.floats(0.01, 8))
@settings(max_examples=50, deadline=None)
def test_quantize_activation_matches_reference_quantize(seed, low, high):
    scale, zp = activation_qparams(low, high)
    rng = np.random.default_rng(seed)
    x = (rng.uniform(low * 1.2, high * 1.2, 300) / scale).round() * scale  # many ties
    x = np.concatenate([x, rng.uniform(low * 1.2, high * 1.2, 300)]).astype(np.float32)
    expected = run(_quantize_graph(scale, zp, len(x)), [x])[0]
    np.testing.assert_array_equal(quantize_activation(torch.from_numpy(x), scale, zp), expected)


def test_weights_symmetric_per_channel():
    w = torch.tensor([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [3.0, 1.5, -2.9]])
    scales = weight_scales(w)
    assert np.allclose(scales.numpy(), [1 / 127, 0, 3 / 127], atol=1e-11)
    assert (scales > 0).all()  # a dead channel still gets a positive scale
    q = quantize_weights(w, scales)
    assert q.tolist() == [[64, -127, 32], [0, 0, 0], [127, 64, -123]]


def test_bias_scale_is_input_times_weight_scale():
    w_scales = torch.tensor([0.01, 0.02], dtype=torch.float32)
    b = torch.tensor([1.0, -1.0])
    assert quantize_bias(b, 0.5, w_scales).tolist() == [200, -100]
    np.testing.assert_allclose(bias_scales(0.5, w_scales), [0.005, 0.01], rtol=1e-7)
    huge = quantize_bias(torch.tensor([1e9]), 1e-3, torch.tensor([1e-3]))
    assert huge.item() == 2**31 - 1  # saturates at int32


def test_channel_multipliers_follow_tflite():
    w_scales = torch.tensor([0.003, 0.0007], dtype=torch.float32)
    multipliers, shifts = channel_multipliers(0.02, w_scales, 0.1)
    for m, s, ws in zip(multipliers, shifts, w_scales.tolist()):
        real = float(np.float32(0.02)) * ws / float(np.float32(0.1))
        assert (m, s) == quantize_multiplier(real)


def test_requantize_broadcasts_per_channel():
    acc = torch.tensor([[1000, -1000, 77], [5, 6, -7]], dtype=torch.int64)
    m = np.array([1 << 30, 1518500250, 2 ** 31 - 1])
    s = np.array([-3, 0, 2])
    expected = multiply_by_quantized_multiplier(acc.numpy(), m[None, :], s[None, :])
    assert requantize(acc, m, s, channel_axis=1).tolist() == expected.tolist()


def test_straight_through_value_and_gradient():
    value = torch.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    exact = torch.tensor([-1.0, 0.5, 1.0])
    out = straight_through(value, exact, -1.0, 1.0)
    assert out.tolist() == exact.tolist()
    out.sum().backward()
    assert value.grad.tolist() == [0.0, 1.0, 0.0]  # clipped ends pass no gradient
