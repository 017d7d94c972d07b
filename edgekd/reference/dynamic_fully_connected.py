"""DYNAMIC_FULLY_CONNECTED: float32 in and out, int8 weights, the input quantized per call.

The semantics are TFLite's hybrid FULLY_CONNECTED with ``asymmetric_quantize_inputs``
(PortableAsymmetricQuantizeFloats, then PortableMatrixBatchVectorMultiplyAccumulate with
per-channel scales) as LiteRT 2.3 computes it, operation by operation: the C kernel
(runtime_c/src/ekd_dynamic_fully_connected_f32.c) gives the same bytes, and so does
LiteRT's builtin kernel (tests/reference/test_dynamic_fully_connected.py). For each input
vector x of ``depth`` values (one batch row):

1. Range, including 0: ``low = min(0, min x)``, ``high = max(0, max x)`` (float32, exact).
   A NaN or infinite value is an error (the kernel returns EKD_ERROR_ARGUMENT).
2. If ``low == high`` (an all-zero vector) the output is the bias (0 without one), then
   clamped: TFLite's short cut for a zero input.
3. Scale and zero point in double precision, from a float32 range:
   ``scale = double(float32(high - low)) / 255`` (a difference beyond FLT_MAX saturates
   there, where TFLite's becomes infinite); ``zp_min = -128 - low / scale``,
   ``zp_max = 127 - high / scale``; of the two, the one whose terms are smaller
   (``128 + |low / scale|`` < ``127 + |high / scale|`` picks ``zp_min``) is rounded half
   away from zero after clamping to [-128, 127] (<= -128 and >= 127 saturate).
4. ``input_scale = float32(scale)``. If it is below FLT_MIN (a vector whose range is under
   ~3e-36; TFLite's result is undefined there) the vector counts as all-zero (step 2).
5. ``inverse = float32(1.0 / double(input_scale))``;
   ``q[i] = clamp(round_half_away(float32(zp) + float32(x[i] * inverse)), -128, 127)``,
   the product rounded to float32 before the addition (no fused multiply-add).
6. Per output channel c: ``acc = sum(w[c, i] * (q[i] - zp))`` in int32 (exact in int64
   here, wrapped to int32 as the C does; TFLite subtracts ``zp * sum(w[c])`` in float,
   which is the same integer while |terms| < 2^24).
7. ``channel_scale = float32(input_scale * weight_scale[c])``;
   ``y = float32(float32(acc) * channel_scale)``, then ``y = float32(bias[c] + y)`` when
   there is a bias: each step rounded to float32 (round to nearest even). Weight scales
   are at most 127, so channel_scale is finite and y is never NaN; it may overflow to
   +-infinity, which the clamp below turns into +-FLT_MAX when there is no activation.
8. ``y`` is clamped to [activation_min, activation_max] by comparisons (``y < min`` gives
   min, then ``y > max`` gives max).
"""
from __future__ import annotations

import numpy as np

from edgekd.errors import EdgeKDError
from edgekd.reference.params import DynamicFullyConnectedParams

FLOAT32_MIN_NORMAL = float(np.finfo(np.float32).tiny)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def dynamic_fully_connected(p: DynamicFullyConnectedParams, x: np.ndarray, w: np.ndarray,
                            bias: np.ndarray | None, out_shape: tuple[int, ...]) -> np.ndarray:
    """float32 ``x`` (any shape; rows of ``w.shape[1]`` values) times int8 ``w`` [out, in],
    scaled by ``p.weight_scale``, plus the float32 ``bias``: float32 ``out_shape``."""
    rows = np.asarray(x, dtype=np.float32).reshape(-1, w.shape[1])
    weights = np.asarray(w, dtype=np.int64)
    out = np.empty((len(rows), w.shape[0]), dtype=np.float32)
    for index, row in enumerate(rows):
        quantized = quantize_vector(row)
        if quantized is None:
            out[index] = bias if bias is not None else np.float32(0.0)
            continue
        q, input_scale, zero_point = quantized
        acc = _wrap_int32(weights @ (q.astype(np.int64) - zero_point))
        channel_scale = input_scale * p.weight_scale.astype(np.float32)
        with np.errstate(over="ignore"):  # overflow to infinity is defined above
            y = acc.astype(np.float32) * channel_scale
            out[index] = np.asarray(bias, dtype=np.float32) + y if bias is not None else y
    low, high = np.float32(p.activation_min), np.float32(p.activation_max)
    out = np.where(out < low, low, out)
    out = np.where(out > high, high, out)
    return out.astype(np.float32).reshape(out_shape)


def quantize_vector(row: np.ndarray) -> tuple[np.ndarray, np.float32, int] | None:
    """(int8 values, float32 scale, zero point) of one input vector (steps 1 and 3-5 of
    the module docstring), or None for a vector that counts as all-zero."""
    row = np.asarray(row, dtype=np.float32)
    if not np.isfinite(row).all():
        bad = row[~np.isfinite(row)][0]
        raise EdgeKDError(f"DYNAMIC_FULLY_CONNECTED: an input vector holds {bad}; the input "
                          "must be finite (the C kernel returns EKD_ERROR_ARGUMENT)")
    # Python floats are IEEE doubles: the same operations as TFLite's double code.
    low = min(float(row.min()), 0.0)
    high = max(float(row.max()), 0.0)
    if low == high:
        return None
    with np.errstate(over="ignore"):
        spread = min(np.float32(high) - np.float32(low), np.float32(FLOAT32_MAX))
    scale = float(spread) / 255.0
    from_min, from_max = -128.0 - low / scale, 127.0 - high / scale
    error_min, error_max = 128.0 + abs(low / scale), 127.0 + abs(high / scale)
    zero_point_real = from_min if error_min < error_max else from_max
    if zero_point_real <= -128.0:
        zero_point = -128
    elif zero_point_real >= 127.0:
        zero_point = 127
    else:
        zero_point = int(_round_half_away(np.array([zero_point_real]))[0])
    input_scale = np.float32(scale)
    if float(input_scale) < FLOAT32_MIN_NORMAL:
        return None
    inverse = np.float32(1.0 / float(input_scale))
    scaled = np.float32(zero_point) + row * inverse  # float32 product, then float32 sum
    q = np.clip(_round_half_away(scaled.astype(np.float64)), -128, 127).astype(np.int8)
    return q, input_scale, zero_point


def _round_half_away(values: np.ndarray) -> np.ndarray:
    """round() of C: halves away from zero (the fractional part of a float is exact)."""
    whole = np.trunc(values)
    return whole + np.where(np.abs(values - whole) >= 0.5, np.sign(values), 0.0)


def _wrap_int32(values: np.ndarray) -> np.ndarray:
    """int64 values reduced to int32 as two's complement addition wraps."""
    return ((values + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)
