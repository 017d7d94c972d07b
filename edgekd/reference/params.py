"""Offline "Prepare": the integer parameters of each op, computed once from the graph.

These records mirror the C structs of runtime_c/include/edgekd/ekd.h field for field. The
numpy reference kernels and the generated C both consume them, so both compute from the
same integers; how each integer is derived follows TFLM's Prepare functions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekd.errors import GraphError, UnsupportedError
from edgekd.ir import Graph, Node
from edgekd.reference.requantize import (
    activation_range,
    quantize_multiplier,
    quantize_multiplier_greater_than_one,
    quantize_multiplier_smaller_than_one,
    round_half_away,
)
from edgekd.shapes import padding_of


@dataclass(frozen=True)
class ConvParams:
    """CONV_2D and DEPTHWISE_CONV_2D (ekd_conv_params + ekd_per_channel_quant)."""

    input_offset: int
    output_offset: int
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_h: int
    pad_w: int
    depth_multiplier: int
    activation_min: int
    activation_max: int
    multiplier: np.ndarray  # int32 [out_c]
    shift: np.ndarray  # int32 [out_c]


@dataclass(frozen=True)
class FullyConnectedParams:
    input_offset: int
    filter_offset: int
    output_offset: int
    activation_min: int
    activation_max: int
    multiplier: np.ndarray  # int32 [out]
    shift: np.ndarray  # int32 [out]


@dataclass(frozen=True)
class DynamicFullyConnectedParams:
    """DYNAMIC_FULLY_CONNECTED (ekd_dynamic_fc_params + the per-channel weight scales).

    The fused activation is a float32 clamp; NONE clamps to +-FLT_MAX, so an output that
    overflows saturates there instead of becoming infinite.
    """

    activation_min: float  # float32 values
    activation_max: float
    weight_scale: np.ndarray  # float32 [out], in (0, 127]


@dataclass(frozen=True)
class PoolParams:
    stride_h: int
    stride_w: int
    filter_h: int
    filter_w: int
    pad_h: int
    pad_w: int
    activation_min: int
    activation_max: int


@dataclass(frozen=True)
class AddParams:
    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int
    left_shift: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    activation_min: int
    activation_max: int


@dataclass(frozen=True)
class SoftmaxParams:
    input_multiplier: int
    input_left_shift: int
    diff_min: int


@dataclass(frozen=True)
class QuantizeParams:
    """QUANTIZE (float32 -> int8) and DEQUANTIZE (int8 -> float32) at the model boundary."""

    scale: float
    zero_point: int


def _per_tensor(graph: Graph, name: str) -> tuple[float, int]:
    q = graph.tensor(name).quant
    if q is None:
        raise GraphError(f"tensor {name!r} has no quantization parameters")
    return q.scalar_scale, q.scalar_zero_point


def _where(graph: Graph, node: Node) -> str:
    return f"graph {graph.name!r}: node {node.name!r} ({node.op})"


def _activation_range(graph: Graph, node: Node, scale: float, zero_point: int
                      ) -> tuple[int, int]:
    try:
        return activation_range(node.attrs["activation"], scale, zero_point)
    except ValueError as e:
        raise UnsupportedError(f"{_where(graph, node)}: {e}") from None


def _channel_multipliers(in_scale: float, w_scales: np.ndarray, out_scale: float,
                         channels: int) -> tuple[np.ndarray, np.ndarray]:
    # TFLM (PopulateConvolutionQuantizationParams, and FULLY_CONNECTED with per-channel
    # weights): double(input_scale) * double(filter_scale[c]) / double(output_scale).
    scales = np.broadcast_to(w_scales, (channels,))
    return _multiplier_arrays([in_scale * float(s) / out_scale for s in scales])


def _multiplier_arrays(reals: list[float]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(r) for r in reals]
    return (np.array([m for m, _ in pairs], dtype=np.int32),
            np.array([s for _, s in pairs], dtype=np.int32))


def _apply_overrides(node: Node, mult: np.ndarray, shift: np.ndarray) -> None:
    """Replace the channels' multipliers and shifts the code generator rewrote
    (``attrs["requant_override"]``: (channel, multiplier, shift), ...; a channel that
    outputs one constant, edgekd/codegen/channels.py). No model file carries them."""
    for channel, multiplier, channel_shift in node.attrs.get("requant_override", ()):
        mult[channel], shift[channel] = multiplier, channel_shift


def prepare_conv(graph: Graph, node: Node) -> ConvParams:
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    y = graph.tensor(node.outputs[0])
    in_scale, in_zp = _per_tensor(graph, x.name)
    out_scale, out_zp = _per_tensor(graph, y.name)
    kernel = (w.shape[1], w.shape[2])
    pad_h, pad_w = padding_of(node, (x.shape[1], x.shape[2]), (y.shape[1], y.shape[2]), kernel)
    mult, shift = _channel_multipliers(in_scale, w.quant.scale, out_scale, y.shape[3])
    _apply_overrides(node, mult, shift)
    act_min, act_max = _activation_range(graph, node, out_scale, out_zp)
    return ConvParams(
        input_offset=-in_zp, output_offset=out_zp,
        stride_h=node.attrs["stride"][0], stride_w=node.attrs["stride"][1],
        dilation_h=node.attrs["dilation"][0], dilation_w=node.attrs["dilation"][1],
        pad_h=pad_h, pad_w=pad_w,
        depth_multiplier=node.attrs.get("depth_multiplier", 1),
        activation_min=act_min, activation_max=act_max,
        multiplier=mult, shift=shift,
    )


def prepare_fully_connected(graph: Graph, node: Node) -> FullyConnectedParams:
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    y = graph.tensor(node.outputs[0])
    in_scale, in_zp = _per_tensor(graph, x.name)
    out_scale, out_zp = _per_tensor(graph, y.name)
    # Per-tensor weights too: the TFLM the tests run multiplies the scales in double, like
    # conv (a float32 product differs in the low bits; test_fully_connected pins this).
    mult, shift = _channel_multipliers(in_scale, w.quant.scale, out_scale, w.shape[0])
    _apply_overrides(node, mult, shift)
    act_min, act_max = _activation_range(graph, node, out_scale, out_zp)
    return FullyConnectedParams(
        input_offset=-in_zp, filter_offset=-int(w.quant.zero_point[0]), output_offset=out_zp,
        activation_min=act_min, activation_max=act_max, multiplier=mult, shift=shift,
    )


FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT_ACTIVATION_RANGES = {"NONE": (-FLOAT32_MAX, FLOAT32_MAX), "RELU": (0.0, FLOAT32_MAX),
                           "RELU6": (0.0, 6.0)}


def prepare_dynamic_fully_connected(graph: Graph, node: Node) -> DynamicFullyConnectedParams:
    w = graph.tensor(node.inputs[1])
    low, high = FLOAT_ACTIVATION_RANGES[node.attrs["activation"]]
    # A per-tensor scale is repeated per output, so the kernel has one form.
    scales = np.broadcast_to(w.quant.scale.astype(np.float32), (w.shape[0],))
    return DynamicFullyConnectedParams(activation_min=low, activation_max=high,
                                       weight_scale=np.ascontiguousarray(scales))


def prepare_pool(graph: Graph, node: Node) -> PoolParams:
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    out_scale, out_zp = _per_tensor(graph, y.name)
    fh, fw = node.attrs["filter"]
    pad_h, pad_w = padding_of(node, (x.shape[1], x.shape[2]), (y.shape[1], y.shape[2]), (fh, fw))
    act_min, act_max = _activation_range(graph, node, out_scale, out_zp)
    return PoolParams(
        stride_h=node.attrs["stride"][0], stride_w=node.attrs["stride"][1],
        filter_h=fh, filter_w=fw, pad_h=pad_h, pad_w=pad_w,
        activation_min=act_min, activation_max=act_max,
    )


def prepare_add(graph: Graph, node: Node) -> AddParams:
    s1, zp1 = _per_tensor(graph, node.inputs[0])
    s2, zp2 = _per_tensor(graph, node.inputs[1])
    so, zpo = _per_tensor(graph, node.outputs[0])
    left_shift = 20  # TFLM's headroom for int8 ADD
    twice_max_input_scale = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier_smaller_than_one(s1 / twice_max_input_scale)
    m2, sh2 = quantize_multiplier_smaller_than_one(s2 / twice_max_input_scale)
    try:
        mo, sho = quantize_multiplier_smaller_than_one(
            twice_max_input_scale / ((1 << left_shift) * so))
    except ValueError:
        raise UnsupportedError(
            f"{_where(graph, node)}: output scale {so:g} is too small for the input scales "
            f"{s1:g}, {s2:g} (TFLite's int8 {node.op} needs 2 * max input scale < 2^20 * output "
            "scale)"
        ) from None
    act_min, act_max = _activation_range(graph, node, so, zpo)
    return AddParams(
        input1_offset=-zp1, input1_multiplier=m1, input1_shift=sh1,
        input2_offset=-zp2, input2_multiplier=m2, input2_shift=sh2,
        left_shift=left_shift, output_offset=zpo, output_multiplier=mo, output_shift=sho,
        activation_min=act_min, activation_max=act_max,
    )


SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5  # TFLM's kScaledDiffIntegerBits


def prepare_softmax(graph: Graph, node: Node) -> SoftmaxParams:
    in_scale, _ = _per_tensor(graph, node.inputs[0])
    beta = float(np.float32(node.attrs["beta"]))  # a float32 in the model, as the scales
    bits = SOFTMAX_SCALED_DIFF_INTEGER_BITS
    # PreprocessSoftmaxScaling: beta * scale * 2^(31 - bits), capped just below 2^31.
    real = min(beta * in_scale * (1 << (31 - bits)), (1 << 31) - 1.0)
    if not real > 1.0:
        raise UnsupportedError(
            f"{_where(graph, node)}: beta {beta:g} x input scale {in_scale:g} is below 2^-26, "
            "which TFLite's int8 softmax cannot represent")
    multiplier, left_shift = quantize_multiplier_greater_than_one(real)
    # CalculateInputRadius(bits, left_shift, 31)
    max_scaled = ((1 << bits) - 1) * (1 << (31 - bits)) / (1 << left_shift)
    diff_min = -int(np.floor(max_scaled))
    return SoftmaxParams(input_multiplier=multiplier, input_left_shift=left_shift,
                         diff_min=diff_min)


def prepare_quantize(graph: Graph, node: Node) -> QuantizeParams:
    # QUANTIZE's parameters are the output's; DEQUANTIZE's the input's.
    name = node.outputs[0] if node.op == "QUANTIZE" else node.inputs[0]
    scale, zp = _per_tensor(graph, name)
    return QuantizeParams(scale=scale, zero_point=zp)


# ----------------------------------------------------------------- arithmetic and activations


@dataclass(frozen=True)
class ReduceSumParams:
    """MEAN and SUM (ekd_reduce_params): each output is the int32 sum of its inputs plus
    ``sum_bias`` (minus the input zero point times the count, wrapped to int32 as TFLM's
    cast does), rescaled by (multiplier, shift), offset and saturated to int8. For MEAN
    the 1/count factor is folded into the multiplier as TFLM's QuantizedMeanOrSum does."""

    sum_bias: int
    multiplier: int
    shift: int
    output_offset: int
    axis: tuple[int, ...]  # the reduced dims (not a C field: the layer's geometry)


@dataclass(frozen=True)
class AxisParams:
    """REDUCE_MAX, ARG_MAX, ARG_MIN: only the reduced dims (the layer's geometry in C)."""

    axis: tuple[int, ...]


def prepare_axis(graph: Graph, node: Node) -> AxisParams:
    axis = node.attrs["axis"]
    return AxisParams(tuple(axis) if isinstance(axis, (tuple, list)) else (int(axis),))


def _wrap32(value: int) -> int:
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


def reduced_count(graph: Graph, node: Node) -> int:
    shape = graph.tensor(node.inputs[0]).shape
    return int(np.prod([shape[d] for d in node.attrs["axis"]], dtype=np.int64))


def prepare_reduce_sum(graph: Graph, node: Node) -> ReduceSumParams:
    in_scale, in_zp = _per_tensor(graph, node.inputs[0])
    out_scale, out_zp = _per_tensor(graph, node.outputs[0])
    multiplier, shift = quantize_multiplier(in_scale / out_scale)
    count = reduced_count(graph, node)
    if node.op == "MEAN":
        # QuantizedMeanOrSum: fold 1/count in, with as many bits as count has (at most
        # 32, and no further than a right shift of 31 allows), truncating the quotient.
        bits = min(count.bit_length() - 1, 32, 31 + shift)
        multiplier = (multiplier << bits) // count
        shift -= bits
    return ReduceSumParams(sum_bias=_wrap32(-in_zp * count), multiplier=int(multiplier),
                           shift=int(shift), output_offset=out_zp,
                           axis=tuple(node.attrs["axis"]))


@dataclass(frozen=True)
class MulParams:
    """MUL (ekd_mul_params): (x1 + input1_offset) * (x2 + input2_offset), requantized."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    activation_min: int
    activation_max: int


def prepare_mul(graph: Graph, node: Node) -> MulParams:
    s1, zp1 = _per_tensor(graph, node.inputs[0])
    s2, zp2 = _per_tensor(graph, node.inputs[1])
    so, zpo = _per_tensor(graph, node.outputs[0])
    multiplier, shift = quantize_multiplier(s1 * s2 / so)  # double, as TFLM
    act_min, act_max = _activation_range(graph, node, so, zpo)
    return MulParams(input1_offset=-zp1, input2_offset=-zp2, output_offset=zpo,
                     output_multiplier=multiplier, output_shift=shift,
                     activation_min=act_min, activation_max=act_max)


@dataclass(frozen=True)
class PreluParams:
    """PRELU (ekd_prelu_params): x >= zero point rescaled by multiplier 1, below it
    (x - zp) * (alpha - alpha zp) rescaled by multiplier 2."""

    input_offset: int
    alpha_offset: int
    output_offset: int
    output_multiplier_1: int
    output_shift_1: int
    output_multiplier_2: int
    output_shift_2: int


def prepare_prelu(graph: Graph, node: Node) -> PreluParams:
    s, zp = _per_tensor(graph, node.inputs[0])
    sa, zpa = _per_tensor(graph, node.inputs[1])
    so, zpo = _per_tensor(graph, node.outputs[0])
    m1, sh1 = quantize_multiplier(s / so)  # double, as TFLM
    m2, sh2 = quantize_multiplier(s * sa / so)
    return PreluParams(input_offset=-zp, alpha_offset=-zpa, output_offset=zpo,
                       output_multiplier_1=m1, output_shift_1=sh1,
                       output_multiplier_2=m2, output_shift_2=sh2)


def prepare_sub(graph: Graph, node: Node) -> AddParams:
    """SUB: ADD's parameters (ekd_add_params), its scales divided in double as ADD's are
    by the TFLM the tests run (test_math_ops pins it)."""
    return prepare_add(graph, node)


@dataclass(frozen=True)
class RescaleParams:
    """REQUANTIZE and RELU: (x - input_zero_point) rescaled, offset, clamped to
    [activation_min, activation_max], a range of the output type (uint8 only for a
    REQUANTIZE at the model boundary)."""

    input_zero_point: int
    output_zero_point: int
    multiplier: int
    shift: int
    activation_min: int
    activation_max: int
    output_dtype: str = "int8"


def prepare_requantize(graph: Graph, node: Node) -> RescaleParams:
    """TFLM's Requantize (TFLite's QUANTIZE of an integer): int8 or uint8 on either side
    (uint8 where converters keep uint8 model inputs and outputs around an int8 graph)."""
    in_scale, in_zp = _per_tensor(graph, node.inputs[0])
    out_scale, out_zp = _per_tensor(graph, node.outputs[0])
    multiplier, shift = quantize_multiplier(in_scale / out_scale)  # double, as TFLM
    out_dtype = graph.tensor(node.outputs[0]).dtype
    low = 0 if out_dtype == "uint8" else -128
    return RescaleParams(in_zp, out_zp, multiplier, shift, low, low + 255, out_dtype)


def prepare_relu(graph: Graph, node: Node) -> RescaleParams:
    in_scale, in_zp = _per_tensor(graph, node.inputs[0])
    out_scale, out_zp = _per_tensor(graph, node.outputs[0])
    multiplier, shift = quantize_multiplier(in_scale / out_scale)  # double, as TFLM
    return RescaleParams(in_zp, out_zp, multiplier, shift, max(-128, out_zp), 127)


@dataclass(frozen=True)
class ClampParams:
    """RELU6 as TFLM runs it: the input codes clamped to [zero, six] of the input scale."""

    low: int
    high: int


def prepare_relu6(graph: Graph, node: Node) -> ClampParams:
    scale, zp = _per_tensor(graph, node.inputs[0])
    # FloatToQuantizedType: round(6.0f / scale) in float32, then C's round().
    six = round_half_away(float(np.float32(6.0) / np.float32(scale))) + zp
    return ClampParams(low=zp, high=max(-128, min(127, six)))


@dataclass(frozen=True)
class LeakyReluParams:
    input_zero_point: int
    output_zero_point: int
    multiplier_identity: int
    shift_identity: int
    multiplier_alpha: int  # may be negative: a negative alpha
    shift_alpha: int


def prepare_leaky_relu(graph: Graph, node: Node) -> LeakyReluParams:
    in_scale, in_zp = _per_tensor(graph, node.inputs[0])
    out_scale, out_zp = _per_tensor(graph, node.outputs[0])
    # The float32 scales and alpha multiplied and divided in double, as the TFLM the tests
    # run (test_math_ops pins it).
    alpha = in_scale * float(np.float32(node.attrs["alpha"])) / out_scale
    m_alpha, s_alpha = quantize_multiplier(abs(alpha))
    m_id, s_id = quantize_multiplier(in_scale / out_scale)
    return LeakyReluParams(in_zp, out_zp, m_id, s_id, -m_alpha if alpha < 0 else m_alpha,
                           s_alpha)


@dataclass(frozen=True)
class FixedPointActivationParams:
    """LOGISTIC and TANH: the input offset by its zero point, rescaled to Q4.27, then
    gemmlowp's fixed-point function; inputs beyond +-range_radius saturate."""

    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int


FIXED_POINT_ACTIVATION_INTEGER_BITS = 4  # TFLM's kInputIntegerBits for int8


def prepare_fixed_point_activation(graph: Graph, node: Node) -> FixedPointActivationParams:
    scale, zp = _per_tensor(graph, node.inputs[0])
    bits = FIXED_POINT_ACTIVATION_INTEGER_BITS
    fraction, left_shift = math.frexp(scale * (1 << (31 - bits)))
    multiplier = round_half_away(fraction * (1 << 31))
    if multiplier == 1 << 31 or left_shift > 31 or left_shift < 0:
        raise UnsupportedError(f"{_where(graph, node)}: input scale {scale:g} is out of the "
                               "range TFLite's int8 kernel supports")
    max_scaled = ((1 << bits) - 1) * (1 << (31 - bits)) / (1 << left_shift)
    return FixedPointActivationParams(zp, int(math.floor(max_scaled)), multiplier, left_shift)


@dataclass(frozen=True)
class HardSwishParams:
    """HARD_SWISH (TFLM's HardSwishParams): int16 fixed-point multipliers."""

    input_zero_point: int
    output_zero_point: int
    reluish_multiplier: int  # int16
    reluish_exponent: int
    output_multiplier: int  # int16
    output_exponent: int


def _int16_multiplier(multiplier: int) -> int:
    """DownScaleInt32ToInt16Multiplier."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (multiplier + (1 << 15)) >> 16


def prepare_hard_swish(graph: Graph, node: Node) -> HardSwishParams:
    f32 = np.float32
    in_scale, in_zp = _per_tensor(graph, node.inputs[0])
    out_scale, out_zp = _per_tensor(graph, node.outputs[0])
    # The scales are float32, their ratios double: the TFLM the tests run divides so (a
    # float32 quotient rounds differently where the multiplier sits on a rounding
    # boundary of its int16 form; test_math_ops pins this).
    hires_input_scale = float(f32(1.0 / 128.0) * f32(in_scale))
    reluish_scale = float(f32(3.0) / f32(32768.0))
    m_out, e_out = quantize_multiplier(hires_input_scale / out_scale)
    m_rel, e_rel = quantize_multiplier(hires_input_scale / reluish_scale)
    if e_out > 0:
        raise UnsupportedError(f"{_where(graph, node)}: output scale {out_scale:g} is too "
                               f"small for input scale {in_scale:g} (TFLite needs "
                               "input scale / 128 <= output scale)")
    return HardSwishParams(in_zp, out_zp, _int16_multiplier(m_rel), e_rel,
                           _int16_multiplier(m_out), e_out)
