"""Seeded random kernel cases as plain data, for tests that run many cases in one go (a
firmware under QEMU, in-place runs on the host).

The draws follow ekd_strategies.py: fills that reach the saturating extremes, per-channel
multipliers from 1e-6 to 1e3 (right shifts to -19, left shifts to +10, sometimes a zero
multiplier), any zero points and clamp ranges, biases that are absent, typical or any
int32 (so that accumulators wrap).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekd.codegen.inplace import Window
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.reference.add import add
from edgekd.reference.conv import conv2d
from edgekd.reference.depthwise_conv import depthwise_conv2d
from edgekd.reference.params import AddParams, ConvParams, PoolParams, prepare_add
from edgekd.reference.pooling import average_pool
from edgekd.reference.requantize import quantize_multiplier
from edgekd.shapes import conv_output_size, same_padding


def int8_array(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    fill = rng.choice(["uniform", "uniform", "extremes", "min", "max", "narrow"])
    if fill == "uniform":
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    if fill == "extremes":
        return rng.choice(np.array([-128, 127], dtype=np.int8), size=shape)
    if fill == "min":
        return np.full(shape, -128, dtype=np.int8)
    if fill == "max":
        return np.full(shape, 127, dtype=np.int8)
    return rng.integers(-3, 4, size=shape, dtype=np.int8)


def requantization(rng: np.random.Generator, channels: int) -> tuple[np.ndarray, np.ndarray]:
    low = rng.uniform(-6.0, 3.0)
    high = rng.uniform(low, 3.0)
    exponents = rng.uniform(low, high, size=channels)
    if rng.integers(2):
        exponents[:] = exponents[0]
    reals = 10.0 ** exponents
    if rng.integers(10) == 0:
        reals[rng.integers(channels)] = 0.0
    pairs = [quantize_multiplier(float(r)) for r in reals]
    return (np.array([m for m, _ in pairs], dtype=np.int32),
            np.array([s for _, s in pairs], dtype=np.int32))


def bias(rng: np.random.Generator, channels: int) -> np.ndarray | None:
    kind = rng.choice(["none", "typical", "full"])
    if kind == "none":
        return None
    bound = 1 << 20 if kind == "typical" else 1 << 31
    return rng.integers(-bound, bound, size=channels, dtype=np.int64).astype(np.int32)


def activation_range(rng: np.random.Generator) -> tuple[int, int]:
    if rng.integers(2):
        return -128, 127
    a, b = (int(v) for v in rng.integers(-128, 128, size=2))
    return min(a, b), max(a, b)


@dataclass
class ConvCase:
    """A CONV_2D or DEPTHWISE_CONV_2D case with its reference output."""

    kind: str  # "conv", "conv1x1" or "depthwise"
    params: ConvParams
    x: np.ndarray
    w: np.ndarray
    bias: np.ndarray | None
    expected: np.ndarray

    @property
    def window(self) -> Window:
        p = self.params
        return Window(self.x.shape, self.expected.shape, (self.w.shape[1], self.w.shape[2]),
                      (p.stride_h, p.stride_w), (p.dilation_h, p.dilation_w), (p.pad_h, p.pad_w))


def _axis(rng: np.random.Generator, kernel: int, stride: int, dilation: int,
          padding: str) -> tuple[int, int, int]:
    effective = (kernel - 1) * dilation + 1
    size = int(rng.integers(effective if padding == "VALID" else 1, effective + 7))
    out = conv_output_size(size, kernel, stride, dilation, padding)
    pad = same_padding(size, kernel, stride, dilation, out) if padding == "SAME" else 0
    return size, out, pad


def conv_case(rng: np.random.Generator, kind: str) -> ConvCase:
    """A random case for the 1x1 kernel ("conv1x1"), the general one ("conv") or the
    depthwise one ("depthwise", depth multiplier 1)."""
    if kind == "conv1x1":
        kernel, dilation, padding = (1, 1), (1, 1), "VALID"
        stride = tuple(int(s) for s in rng.integers(1, 3, size=2))
        in_c = int(rng.choice([int(rng.integers(1, 17)), int(rng.integers(17, 65)),
                               int(rng.integers(65, 100))]))
    else:
        kernel = tuple(int(k) for k in rng.integers(1, 5, size=2))
        if kind == "depthwise" and rng.integers(2):
            kernel = (3, 3)
        stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
        dilation = tuple(int(d) for d in rng.choice([1, 1, 1, 2, 3], size=2))
        padding = str(rng.choice(["SAME", "VALID"]))
        in_c = int(rng.choice([int(rng.integers(1, 9)), int(rng.integers(9, 40))]))
    in_h, out_h, pad_h = _axis(rng, kernel[0], stride[0], dilation[0], padding)
    in_w, out_w, pad_w = _axis(rng, kernel[1], stride[1], dilation[1], padding)
    batches = int(rng.integers(1, 3))
    out_c = in_c if kind == "depthwise" else int(rng.integers(1, 10))
    x = int8_array(rng, (batches, in_h, in_w, in_c))
    w_shape = (1, *kernel, out_c) if kind == "depthwise" else (out_c, *kernel, in_c)
    w = int8_array(rng, w_shape)
    multiplier, shift = requantization(rng, out_c)
    act_min, act_max = activation_range(rng)
    p = ConvParams(
        input_offset=-int(rng.integers(-128, 128)), output_offset=int(rng.integers(-128, 128)),
        stride_h=stride[0], stride_w=stride[1], dilation_h=dilation[0], dilation_w=dilation[1],
        pad_h=pad_h, pad_w=pad_w, depth_multiplier=1, activation_min=act_min,
        activation_max=act_max, multiplier=multiplier, shift=shift)
    b = bias(rng, out_c)
    out_shape = (batches, out_h, out_w, out_c)
    reference = depthwise_conv2d if kind == "depthwise" else conv2d
    return ConvCase(kind, p, x, w, b, reference(p, x, w, b, out_shape))


@dataclass
class AddCase:
    params: AddParams
    x1: np.ndarray
    x2: np.ndarray
    expected: np.ndarray


def add_case(rng: np.random.Generator) -> AddCase:
    """ADD over 1..300 values, scales from 1e-4 to 1, parameters from edgekd's Prepare."""
    shape = (1, 1, 1, int(rng.integers(1, 301)))
    quant = {}
    for name in ("x1", "x2", "y"):
        quant[name] = QuantParams.per_tensor(float(10.0 ** rng.uniform(-4.0, 0.0)),
                                             int(rng.integers(-128, 128)))
    if rng.integers(3) == 0:  # equal input scales: a shift of exactly 0
        quant["x2"] = QuantParams.per_tensor(float(quant["x1"].scale[0]),
                                             int(rng.integers(-128, 128)))
    graph = Graph("add", {name: Tensor(name, shape, "int8", q) for name, q in quant.items()},
                  [], ["x1", "x2"], ["y"])
    node = Node("ADD", "add", ["x1", "x2"], ["y"],
                {"activation": str(rng.choice(["NONE", "RELU", "RELU6"]))})
    p = prepare_add(graph, node)
    x1, x2 = int8_array(rng, shape), int8_array(rng, shape)
    return AddCase(p, x1, x2, add(p, x1, x2))


@dataclass
class PoolCase:
    params: PoolParams
    x: np.ndarray
    expected: np.ndarray


def average_pool_case(rng: np.random.Generator) -> PoolCase:
    """AVERAGE_POOL_2D with random windows, strides, SAME or VALID padding, channels."""
    while True:
        padding = str(rng.choice(["SAME", "VALID"]))
        kernel = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        axes = [_axis(rng, k, s, 1, padding) for k, s in zip(kernel, stride)]
        # TFLM fails the op when a window lies entirely in the padding: no such cases.
        if all((o - 1) * s - pad < size for (size, o, pad), s in zip(axes, stride)):
            break
    (in_h, out_h, pad_h), (in_w, out_w, pad_w) = axes
    batches, channels = int(rng.integers(1, 3)), int(rng.integers(1, 20))
    act_min, act_max = activation_range(rng)
    p = PoolParams(stride_h=stride[0], stride_w=stride[1], filter_h=kernel[0],
                   filter_w=kernel[1], pad_h=pad_h, pad_w=pad_w, activation_min=act_min,
                   activation_max=act_max)
    x = int8_array(rng, (batches, in_h, in_w, channels))
    return PoolCase(p, x, average_pool(p, x, (batches, out_h, out_w, channels)))
