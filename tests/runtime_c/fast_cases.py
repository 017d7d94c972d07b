"""Random cases for the optimized convolution kernels (ekd_conv2d_1x1_s8,
ekd_conv2d_im2col_s8, ekd_depthwise_conv2d_fast_s8), shared by the host tests and the
on-board tests.

Shapes, strides, dilations, padding, zero points, clamp ranges and weights are drawn as for
the portable kernels; requantization and biases stay inside what the fast kernels require
(multiplier >= 0, shift <= -1, |bias| + 255 * sum |w| < 2^30), with the edges of that range
drawn too. ``FastCase.expected`` is the numpy reference's output.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from edgekd.codegen.kernels import folded_bias
from edgekd.codegen.optimized import rows4_filter, winograd_filter
from edgekd.reference.conv import conv2d
from edgekd.reference.depthwise_conv import depthwise_conv2d
from edgekd.reference.params import ConvParams
from edgekd.reference.requantize import quantize_multiplier
from edgekd.shapes import conv_output_size, same_padding

from .ekd_strategies import activation_ranges, int8_arrays, zero_points

ACC_LIMIT = 1 << 30
KERNELS = ("ekd_conv2d_1x1_s8", "ekd_conv2d_im2col_s8", "ekd_conv2d_winograd_s8",
           "ekd_depthwise_conv2d_fast_s8")


@dataclass(frozen=True)
class FastCase:
    kernel: str
    params: ConvParams
    x: np.ndarray  # int8 NHWC
    w: np.ndarray  # int8, TFLite layout
    bias: np.ndarray | None  # int32
    out_shape: tuple[int, int, int, int]

    @property
    def expected(self) -> np.ndarray:
        reference = depthwise_conv2d if "depthwise" in self.kernel else conv2d
        return reference(self.params, self.x, self.w, self.bias, self.out_shape)

    @property
    def c_filter(self) -> np.ndarray:
        """The filter as the kernel takes it: packed "rows4" for the conv kernels, the
        Winograd transform (int16) for ekd_conv2d_winograd_s8."""
        if "depthwise" in self.kernel:
            return self.w.reshape(-1)
        if "winograd" in self.kernel:
            return winograd_filter(self.w)
        return rows4_filter(self.w)

    @property
    def c_bias(self) -> np.ndarray | None:
        """The bias as the kernel takes it: folded for the conv kernels."""
        if "depthwise" in self.kernel:
            return self.bias
        return folded_bias(self.w, self.bias, self.params.input_offset)


def mat_mult_block_bytes(depth: int) -> int:
    """EKD_MAT_MULT_BLOCK_BYTES (runtime_c/src/ekd_mat_mult_s8.h)."""
    return (depth + 3) // 4 * 4 * 4 * 2


@st.composite
def fast_requantization(draw, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) of real multipliers in [1e-7, 0.5): right shifts 1 to
    24; sometimes shared by all channels, sometimes one is 0 (multiplier 0, shift 0 or -1)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    low = draw(st.floats(-7.0, -0.302))
    high = draw(st.floats(low, -0.302))  # 10^-0.302 < 0.5
    reals = 10.0 ** rng.uniform(low, high, size=channels)
    if draw(st.booleans()):
        reals[:] = reals[0]
    pairs = [quantize_multiplier(float(r)) for r in reals]
    multiplier = np.array([m for m, _ in pairs], dtype=np.int32)
    shift = np.array([s for _, s in pairs], dtype=np.int32)
    if draw(st.integers(0, 9)) == 0:  # a zero multiplier, as TFLite stores it: (0, 0)
        c = rng.integers(channels)
        multiplier[c], shift[c] = 0, draw(st.sampled_from((0, -1)))
    return multiplier, shift


@st.composite
def fast_biases(draw, w_abs_sums: np.ndarray) -> np.ndarray | None:
    """None, typical biases, or biases up to the accumulator limit for these weights."""
    kind = draw(st.sampled_from(("none", "typical", "limit")))
    if kind == "none":
        return None
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    room = ACC_LIMIT - 1 - 255 * w_abs_sums.astype(np.int64)
    if kind == "typical":
        room = np.minimum(room, 1 << 20)
    magnitude = room if kind == "limit" else rng.integers(0, room + 1)
    sign = np.where(rng.integers(0, 2, size=room.size) == 1, 1, -1)
    return (sign * magnitude).astype(np.int32)


@st.composite
def spatial(draw, kernel_max: int = 4, one_by_one: bool = False,
            winograd: bool = False) -> dict:
    """Kernel, stride, dilation, padding and the extents they imply (1x1: no padding;
    Winograd: 3x3 at stride 1, SAME or VALID). Half the draws are the layers models have
    (3x3, dilation 1, stride 1 or 2, SAME), which the kernels have unrolled paths for."""
    out = {}
    typical = draw(st.booleans())
    for axis in ("h", "w"):
        if winograd:
            kernel, stride, dilation = 3, 1, 1
            padding = draw(st.sampled_from(("SAME", "VALID")))
        elif typical:
            kernel = 1 if one_by_one else 3
            stride = draw(st.integers(1, 2))
            dilation = 1
            padding = "VALID" if one_by_one else "SAME"
        else:
            kernel = 1 if one_by_one else draw(st.integers(1, kernel_max))
            stride = draw(st.integers(1, 3))
            dilation = draw(st.integers(1, 3))
            padding = "VALID" if one_by_one else draw(st.sampled_from(("SAME", "VALID")))
        effective = (kernel - 1) * dilation + 1
        size = draw(st.integers(effective if padding == "VALID" else 1, effective + 9))
        out_size = conv_output_size(size, kernel, stride, dilation, padding)
        pad = same_padding(size, kernel, stride, dilation, out_size) if padding == "SAME" else 0
        out.update({f"kernel_{axis}": kernel, f"stride_{axis}": stride,
                    f"dilation_{axis}": dilation, f"in_{axis}": size,
                    f"out_{axis}": out_size, f"pad_{axis}": pad})
    return out


@st.composite
def fast_cases(draw, kernel: str, max_channels: int = 24) -> FastCase:
    depthwise = "depthwise" in kernel
    s = draw(spatial(one_by_one=kernel == "ekd_conv2d_1x1_s8",
                     winograd="winograd" in kernel))
    batches = draw(st.integers(1, 2))
    in_c = draw(st.integers(1, max_channels))
    out_c = in_c if depthwise else draw(st.integers(1, max_channels))
    x = draw(int8_arrays((batches, s["in_h"], s["in_w"], in_c)))
    if depthwise:
        w = draw(int8_arrays((1, s["kernel_h"], s["kernel_w"], out_c)))
        abs_sums = np.abs(w.astype(np.int64)).reshape(-1, out_c).sum(axis=0)
    else:
        w = draw(int8_arrays((out_c, s["kernel_h"], s["kernel_w"], in_c)))
        abs_sums = np.abs(w.astype(np.int64)).reshape(out_c, -1).sum(axis=1)
    multiplier, shift = draw(fast_requantization(out_c))
    act_min, act_max = draw(activation_ranges())
    p = ConvParams(
        input_offset=-draw(zero_points), output_offset=draw(zero_points),
        stride_h=s["stride_h"], stride_w=s["stride_w"],
        dilation_h=s["dilation_h"], dilation_w=s["dilation_w"],
        pad_h=s["pad_h"], pad_w=s["pad_w"], depth_multiplier=1,
        activation_min=act_min, activation_max=act_max, multiplier=multiplier, shift=shift)
    return FastCase(kernel, p, x, w, draw(fast_biases(abs_sums)),
                    (batches, s["out_h"], s["out_w"], out_c))


def layer_case(kernel: str, in_c: int, out_c: int, size: tuple[int, int], stride: int,
               seed: int) -> FastCase:
    """A layer of a realistic shape: 3x3 SAME (1x1 VALID for the 1x1 kernel), the given
    stride, random int8 data and per-channel requantization."""
    rng = np.random.default_rng(seed)
    depthwise = "depthwise" in kernel
    out_c = in_c if depthwise else out_c
    kh = 1 if kernel == "ekd_conv2d_1x1_s8" else 3
    padding = "VALID" if kh == 1 else "SAME"
    if "winograd" in kernel:
        stride = 1
    out_hw, pads = [], []
    for extent in size:
        out_size = conv_output_size(extent, kh, stride, 1, padding)
        out_hw.append(out_size)
        pads.append(same_padding(extent, kh, stride, 1, out_size) if padding == "SAME" else 0)
    pairs = [quantize_multiplier(float(r)) for r in rng.uniform(1e-4, 0.01, out_c)]
    p = ConvParams(input_offset=int(rng.integers(-127, 129)),
                   output_offset=int(rng.integers(-128, 128)), stride_h=stride,
                   stride_w=stride, dilation_h=1, dilation_w=1, pad_h=pads[0], pad_w=pads[1],
                   depth_multiplier=1, activation_min=-128, activation_max=127,
                   multiplier=np.array([m for m, _ in pairs], dtype=np.int32),
                   shift=np.array([s for _, s in pairs], dtype=np.int32))
    if seed % 3 == 0:  # a ReLU after a zero point other than -128: a narrower clamp
        p = dataclasses.replace(p, activation_min=p.output_offset)
    x = rng.integers(-128, 128, size=(1, *size, in_c), dtype=np.int8)
    w_shape = (1, kh, kh, out_c) if depthwise else (out_c, kh, kh, in_c)
    w = rng.integers(-127, 128, size=w_shape, dtype=np.int8)
    bias = rng.integers(-(1 << 16), 1 << 16, size=out_c).astype(np.int32)
    return FastCase(kernel, p, x, w, bias, (1, *out_hw, out_c))


# (in_c, out_c, (h, w), stride): depths that are and are not multiples of 4, odd channel
# counts, pixel counts that leave 1, 2 and 3 columns in the last block of four, the
# smallest inputs the unrolled 3x3 depthwise takes, and KWS's and ResNet-8's shapes.
LAYER_SHAPES = [
    (16, 16, (9, 9), 1), (3, 17, (6, 6), 1), (64, 7, (5, 5), 1), (5, 64, (7, 7), 2),
    (1, 8, (10, 4), 2), (8, 8, (3, 3), 1), (12, 12, (4, 3), 2), (64, 64, (25, 5), 1),
    (16, 32, (8, 8), 2), (32, 32, (6, 6), 1), (4, 4, (2, 5), 1),
]


# -- ekd_conv2d_direct_s8 (in_c % 4 == 0, dilation 1, optional fused residual ADD) --------

DIRECT_KERNEL = "ekd_conv2d_direct_s8"


@st.composite
def direct_spatial(draw, kernel_max: int = 5) -> dict:
    """Kernel 1..kernel_max per axis, stride 1..3, dilation 1, SAME (which pads
    asymmetrically where the sizes ask for it) or VALID; half the draws 3x3 at stride 1 or 2
    SAME, the layers models have. Extents from 1xN strips to a few pixels past the kernel."""
    out = {}
    typical = draw(st.booleans())
    for axis in ("h", "w"):
        if typical:
            kernel, stride, padding = 3, draw(st.integers(1, 2)), "SAME"
        else:
            kernel = draw(st.integers(1, kernel_max))
            stride = draw(st.integers(1, 3))
            padding = draw(st.sampled_from(("SAME", "VALID")))
        size = draw(st.integers(kernel if padding == "VALID" else 1, kernel + 9))
        out_size = conv_output_size(size, kernel, stride, 1, padding)
        pad = same_padding(size, kernel, stride, 1, out_size) if padding == "SAME" else 0
        out.update({f"kernel_{axis}": kernel, f"stride_{axis}": stride, f"dilation_{axis}": 1,
                    f"in_{axis}": size, f"out_{axis}": out_size, f"pad_{axis}": pad})
    return out


@st.composite
def direct_cases(draw, max_groups: int = 6) -> FastCase:
    """Cases for ekd_conv2d_direct_s8: fast_cases' quantization and biases, in_c a multiple
    of 4 (4 .. 4 * max_groups), any out_c."""
    s = draw(direct_spatial())
    batches = draw(st.integers(1, 2))
    in_c = 4 * draw(st.integers(1, max_groups))
    out_c = draw(st.integers(1, 24))
    x = draw(int8_arrays((batches, s["in_h"], s["in_w"], in_c)))
    w = draw(int8_arrays((out_c, s["kernel_h"], s["kernel_w"], in_c)))
    abs_sums = np.abs(w.astype(np.int64)).reshape(out_c, -1).sum(axis=1)
    multiplier, shift = draw(fast_requantization(out_c))
    act_min, act_max = draw(activation_ranges())
    p = ConvParams(
        input_offset=-draw(zero_points), output_offset=draw(zero_points),
        stride_h=s["stride_h"], stride_w=s["stride_w"], dilation_h=1, dilation_w=1,
        pad_h=s["pad_h"], pad_w=s["pad_w"], depth_multiplier=1,
        activation_min=act_min, activation_max=act_max, multiplier=multiplier, shift=shift)
    return FastCase(DIRECT_KERNEL, p, x, w, draw(fast_biases(abs_sums)),
                    (batches, s["out_h"], s["out_w"], out_c))


def direct_add_params(conv_zero_point: int, scales: tuple[float, float, float],
                      residual_zero_point: int, output_zero_point: int, activation: str):
    """TFLM's ADD parameters (reference/params.py: prepare_add) for a residual ADD after a
    convolution whose output zero point is ``conv_zero_point``; None where prepare_add
    refuses the scales."""
    from edgekd.ir import Graph, Node, QuantParams, Tensor
    from edgekd.reference.params import prepare_add

    zero_points_ = (conv_zero_point, residual_zero_point, output_zero_point)
    tensors = {name: Tensor(name, (1, 1, 1, 1), "int8", QuantParams.per_tensor(s, z))
               for name, s, z in zip(("x1", "x2", "y"), scales, zero_points_)}
    graph = Graph("add", tensors, [], ["x1", "x2"], ["y"])
    try:
        return prepare_add(graph, Node("ADD", "add", ["x1", "x2"], ["y"],
                                       {"activation": activation}))
    except Exception:  # noqa: BLE001 - UnsupportedError: scales TFLM's ADD cannot take
        return None


@st.composite
def residual_add_params(draw, conv_zero_point: int):
    """Valid fast-ADD parameters (ekd_add_fast_valid) for a fused residual, or None when
    the drawn scales give parameters the fast ADD rejects (callers assume() them away)."""
    scale = st.floats(-4.0, 0.0).map(lambda e: float(10.0 ** e))
    p = direct_add_params(conv_zero_point, (draw(scale), draw(scale), draw(scale)),
                          draw(zero_points), draw(zero_points),
                          draw(st.sampled_from(("NONE", "RELU", "RELU6"))))
    if p is None or p.left_shift > 20 or p.output_shift > -1 or \
            min(p.input1_multiplier, p.input2_multiplier, p.output_multiplier) < 0 or \
            max(p.input1_shift, p.input2_shift) > 0:
        return None
    return p


# ResNet-8's 3x3 convolutions: (in_c, out_c, (h, w), stride).
RESNET8_DIRECT_SHAPES = [
    (16, 16, (32, 32), 1), (32, 32, (16, 16), 1), (16, 32, (32, 32), 2), (64, 64, (8, 8), 1),
    (32, 64, (16, 16), 2),
]
