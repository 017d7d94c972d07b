"""Quantization arithmetic shared by PTQ, QAT and convert: one definition of every grid.

The integer codes a QAT forward pass computes and the integers ``convert`` writes into the
model come from these functions applied to the same tensors, so they cannot disagree.
Rounding is C's round() (halves away from zero), as TFLite's quantizer and kernels round.
Requantization of accumulators reuses edgekd.reference.requantize (TFLM's fixed point).
"""
from __future__ import annotations

import numpy as np
import torch

from edgekd.reference.requantize import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    round_half_away,
)

QMIN, QMAX = -128, 127  # int8 activations
WEIGHT_QMAX = 127  # symmetric int8 weights use [-127, 127], as TFLite's quantizer does
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
# Floors that keep scales positive and finite for dead channels and constant activations.
MIN_WEIGHT_SCALE = 1e-12
MIN_ACTIVATION_RANGE = 1e-6


def round_half_away_tensor(x: torch.Tensor) -> torch.Tensor:
    """Elementwise C round(): exact in any float dtype (x - trunc(x) is exact)."""
    whole = torch.trunc(x)
    return torch.where((x - whole).abs() >= 0.5, whole + torch.sign(x), whole)


def activation_qparams(low: float, high: float) -> tuple[float, int]:
    """(scale, zero_point) of an asymmetric int8 tensor covering [low, high] and 0.

    The scale is rounded to float32 (what a model file stores) before the zero point is
    derived from it, so the grid here is the grid the file describes.
    """
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    if high - low < MIN_ACTIVATION_RANGE:
        high = low + MIN_ACTIVATION_RANGE
    scale = float(np.float32((high - low) / (QMAX - QMIN)))
    zero_point = QMIN - round_half_away(low / scale)
    return scale, int(min(max(zero_point, QMIN), QMAX))


def representable_range(scale: float, zero_point: int) -> tuple[float, float]:
    """Real values at the ends of the int8 grid."""
    return scale * (QMIN - zero_point), scale * (QMAX - zero_point)


def quantize_activation(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """int8 codes (int64 tensor) of float values, as TFLite's QUANTIZE computes them:
    round(x / scale) in float32, plus the zero point, clamped."""
    q = round_half_away_tensor(x.detach().float() / np.float32(scale)).long() + zero_point
    return q.clamp(QMIN, QMAX)


def dequantize(q: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """Real float32 values of int8 codes."""
    return (q - zero_point).float() * np.float32(scale)


def weight_scales(weight: torch.Tensor) -> torch.Tensor:
    """Per-output-channel (axis 0) symmetric scales max|w| / 127, float32."""
    max_abs = weight.detach().abs().reshape(weight.shape[0], -1).amax(dim=1)
    return (max_abs / WEIGHT_QMAX).clamp_min(MIN_WEIGHT_SCALE).float()


def quantize_weights(weight: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """int8 codes (int64 tensor) of weights with one scale per output channel (axis 0)."""
    per_channel = scales.reshape(-1, *([1] * (weight.dim() - 1)))
    q = round_half_away_tensor(weight.detach().float() / per_channel)
    return q.clamp(-WEIGHT_QMAX, WEIGHT_QMAX).long()


def bias_scales(input_scale: float, w_scales: torch.Tensor) -> np.ndarray:
    """Bias scales input_scale * w_scale[c] (float64 of the float32 scales)."""
    return float(np.float32(input_scale)) * w_scales.detach().double().cpu().numpy()


def quantize_bias(bias: torch.Tensor, input_scale: float, w_scales: torch.Tensor) -> torch.Tensor:
    """int32 codes (int64 tensor) of a bias at scale input_scale * w_scale[c]."""
    scales = torch.from_numpy(bias_scales(input_scale, w_scales)).to(bias.device)
    q = round_half_away_tensor(bias.detach().double() / scales)
    return q.clamp(INT32_MIN, INT32_MAX).long()


def channel_multipliers(input_scale: float, w_scales: torch.Tensor,
                        output_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier, shift) per output channel for input_scale * w_scale[c] / output_scale,
    computed in double from float32 scales as TFLM's Prepare does."""
    pairs = [quantize_multiplier(float(np.float32(input_scale)) * float(s)
                                 / float(np.float32(output_scale)))
             for s in w_scales.detach().float().cpu().numpy()]
    return (np.array([m for m, _ in pairs], dtype=np.int64),
            np.array([s for _, s in pairs], dtype=np.int64))


def requantize(acc: torch.Tensor, multiplier, shift, channel_axis: int | None) -> torch.Tensor:
    """TFLM's MultiplyByQuantizedMultiplier on int64 accumulators; per-channel multipliers
    lie along ``channel_axis`` (None for one multiplier)."""
    multiplier, shift = np.asarray(multiplier, np.int64), np.asarray(shift, np.int64)
    if channel_axis is not None:
        shape = [1] * acc.dim()
        shape[channel_axis] = -1
        multiplier, shift = multiplier.reshape(shape), shift.reshape(shape)
    result = multiply_by_quantized_multiplier(acc.detach().cpu().numpy(), multiplier, shift)
    return torch.from_numpy(np.asarray(result, dtype=np.int64)).to(acc.device)


def straight_through(value: torch.Tensor, exact: torch.Tensor, low: float,
                     high: float) -> torch.Tensor:
    """Forward: ``exact`` (the integer path, dequantized). Backward: the gradient of
    ``value`` where it lies on the int8 grid's span, zero where the grid clips it."""
    inside = ((value >= low) & (value <= high)).to(value.dtype)
    return exact.to(value.dtype) + (value - value.detach()) * inside
