"""Torch modules that run each traced layer in one of three modes:

- ``float``: plain float (BatchNorm folded with its running statistics), as deployed before
  quantization; used to check the front end against the original model;
- ``observe``: float, while every activation range records what it sees (calibration);
- ``quant``: quantized. The forward value is computed on the integer path the
  microcontroller runs: int8 codes, int32 accumulators (exact, in float64), int32 bias,
  TFLM's fixed-point requantization, the fused clamp; then dequantized. The gradient is the
  straight-through estimate of the float path (fake-quantized weights and inputs, clipped
  where the output grid clips). A QAT model in eval mode therefore computes what the
  converted int8 model computes, layer by layer, except softmax (see QSoftmax). (While a
  BatchNorm still learns in training, its conv takes the float path; see QWeighted.)

Values between layers are ``QValue``s: the real tensor (which carries gradients) and, in
quant mode, its int8 codes and (scale, zero point).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgekd.frontends.torch_fx import Layer
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.quant.fake import (
    QMAX,
    QMIN,
    activation_qparams,
    bias_scales,
    channel_multipliers,
    dequantize,
    quantize_activation,
    quantize_bias,
    quantize_weights,
    representable_range,
    requantize,
    round_half_away_tensor,
    straight_through,
    weight_scales,
)
from edgekd.quant.observers import ActivationRange
from edgekd.reference.requantize import activation_range, quantize_multiplier_smaller_than_one
from edgekd.registry import op_spec

MODES = ("float", "observe", "quant")
SOFTMAX_SCALE, SOFTMAX_ZERO_POINT = 1.0 / 256.0, -128  # TFLite's fixed int8 softmax output
ADD_LEFT_SHIFT = 20  # TFLM's headroom for int8 ADD


@dataclass
class QValue:
    real: torch.Tensor
    q: torch.Tensor | None = None  # int64 codes in [-128, 127]
    scale: float | None = None
    zero_point: int | None = None


def _activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "RELU":
        return F.relu(x)
    if activation == "RELU6":
        return F.relu6(x)
    return x


def _clamp_codes(q: torch.Tensor, activation: str, scale: float, zero_point: int) -> torch.Tensor:
    low, high = activation_range(activation, scale, zero_point)
    return q.clamp(low, high)


def _fake_weights(w: torch.Tensor, codes: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Forward: the weights on their int8 grids. Backward: straight through to ``w``."""
    grid = codes.float() * scales.reshape(-1, *([1] * (w.dim() - 1)))
    return w + (grid - w).detach()


class QInput(nn.Module):
    """The model input: QUANTIZE with its own range."""

    def __init__(self) -> None:
        super().__init__()
        self.range = ActivationRange()

    def forward(self, x: torch.Tensor, mode: str) -> QValue:
        if mode == "observe":
            self.range.observe(x)
        if mode != "quant":
            return QValue(x)
        self.range.track(x)
        scale, zp = self.range.qparams()
        q = quantize_activation(x, scale, zp)
        return QValue(straight_through(x, dequantize(q, scale, zp),
                                       *representable_range(scale, zp)), q, scale, zp)


class QWeighted(nn.Module):
    """Conv2d (+ folded BatchNorm) or Linear, with a fused activation.

    BatchNorm folds with its running statistics: w' = w * gamma / sqrt(var + eps),
    b' = (b - mean) * gamma / sqrt(var + eps) + beta; w, b, gamma and beta train. While
    BatchNorm is not frozen (``bn_frozen``), training uses batch statistics with the
    standard correction (quantize w' from the running statistics, then rescale the conv
    output to the batch's; the running statistics keep updating), as a network trained
    from scratch needs. Once frozen, and always in eval mode, the forward pass is the
    integer path with exactly the folded weights that get deployed.
    """

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        self.kind = layer.kind
        self.activation = layer.activation
        self.op = layer.module
        self.bn = layer.batchnorm
        self.out = ActivationRange()
        if self.bn is not None:
            self.register_buffer("bn_frozen", torch.tensor(False))

    def bn_factor(self) -> torch.Tensor:
        """gamma / sqrt(running_var + eps), per output channel."""
        inv_std = torch.rsqrt(self.bn.running_var + self.bn.eps)
        return inv_std if self.bn.weight is None else self.bn.weight * inv_std

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Float weights and bias with BatchNorm folded in (differentiable)."""
        w = self.op.weight
        b = self.op.bias if self.op.bias is not None else w.new_zeros(w.shape[0])
        if self.bn is None:
            return w, b
        factor = self.bn_factor()
        beta = self.bn.bias if self.bn.bias is not None else torch.zeros_like(factor)
        w = w * factor.reshape(-1, *([1] * (w.dim() - 1)))
        return w, (b - self.bn.running_mean) * factor + beta

    def integer_params(self, input_scale: float):
        """(weight codes, weight scales, bias codes): what convert writes to the model."""
        w, b = self.folded()
        w_scales = weight_scales(w)
        return quantize_weights(w, w_scales), w_scales, quantize_bias(b, input_scale, w_scales)

    def output_qparams(self, input_scale: float, w_scales: torch.Tensor) -> tuple[float, int]:
        """The output's (scale, zero point). A degenerate (near constant) output range is
        widened until one accumulator step is at most one output step, so requantization
        never shifts left and cannot overflow int32 in C."""
        return self.out.qparams(min_scale=input_scale * float(w_scales.max()))

    def compute(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        if self.kind == "linear":
            return F.linear(x, w, b)
        conv = self.op
        return F.conv2d(x, w, b, conv.stride, conv.padding, conv.dilation, conv.groups)

    def forward(self, x: QValue, mode: str) -> QValue:
        w, b = self.folded()
        if mode != "quant":
            y = _activate(self.compute(x.real, w, b), self.activation)
            if mode == "observe":
                self.out.observe(y)
            return QValue(y)
        if self.bn is not None and self.training and not bool(self.bn_frozen):
            return self.batch_statistics_forward(x, w)
        w_q, w_scales, b_q = self.integer_params(x.scale)
        w_fake = _fake_weights(w, w_q, w_scales)
        b_grid = torch.from_numpy(bias_scales(x.scale, w_scales)).to(b) * b_q
        b_fake = b + (b_grid - b).detach()
        y = _activate(self.compute(x.real, w_fake, b_fake), self.activation)
        self.out.track(y)
        scale, zp = self.output_qparams(x.scale, w_scales)
        # The integer path: products of int8 codes summed exactly in float64 (|sum| < 2^53).
        acc = self.compute((x.q - x.zero_point).double(), w_q.double(), None)
        acc = acc.round().long() + b_q.reshape(-1, *([1] * (acc.dim() - 2)))
        multiplier, shift = channel_multipliers(x.scale, w_scales, scale)
        q = _clamp_codes(requantize(acc, multiplier, shift, channel_axis=1) + zp,
                         self.activation, scale, zp)
        return QValue(straight_through(y, dequantize(q, scale, zp),
                                       *representable_range(scale, zp)), q, scale, zp)

    def batch_statistics_forward(self, x: QValue, folded_weight: torch.Tensor) -> QValue:
        """Training with BatchNorm still learning: the conv runs on the fake-quantized
        folded weights, its output is unscaled and normalized by BatchNorm in train mode
        (batch statistics, running statistics updated), then fake-quantized (float path)."""
        w_scales = weight_scales(folded_weight)
        w_fake = _fake_weights(folded_weight, quantize_weights(folded_weight, w_scales), w_scales)
        conv = self.compute(x.real, w_fake, None) / self.bn_factor().reshape(-1, 1, 1)
        if self.op.bias is not None:
            conv = conv + self.op.bias.reshape(-1, 1, 1)
        y = _activate(self.bn(conv), self.activation)
        self.out.track(y)
        scale, zp = self.output_qparams(x.scale, w_scales)
        q = _clamp_codes(quantize_activation(y, scale, zp), self.activation, scale, zp)
        return QValue(straight_through(y, dequantize(q, scale, zp),
                                       *representable_range(scale, zp)), q, scale, zp)


class QPool(nn.Module):
    """MAX_POOL_2D / AVERAGE_POOL_2D: the output keeps the input's scale and zero point."""

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        self.kind = layer.kind
        self.activation = layer.activation
        self.filter = layer.attrs["filter"]
        self.stride = layer.attrs["stride"]
        self.padding = layer.attrs["torch_padding"]
        self.ceil_mode = layer.attrs["ceil_mode"]

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "max_pool":
            return F.max_pool2d(x, self.filter, self.stride, self.padding,
                                ceil_mode=self.ceil_mode)
        return F.avg_pool2d(x, self.filter, self.stride, self.padding, self.ceil_mode,
                            count_include_pad=False)

    def forward(self, x: QValue, mode: str) -> QValue:
        y = _activate(self.pool(x.real), self.activation)
        if mode != "quant":
            return QValue(y)
        if self.kind == "max_pool":
            q = self.pool(x.q.double()).long()
        else:
            q = self.integer_average(x.q)
        q = _clamp_codes(q, self.activation, x.scale, x.zero_point)
        return QValue(straight_through(y, dequantize(q, x.scale, x.zero_point),
                                       *representable_range(x.scale, x.zero_point)),
                      q, x.scale, x.zero_point)

    def integer_average(self, q: torch.Tensor) -> torch.Tensor:
        """TFLM: the sum of the raw codes over the cells inside the input, divided by their
        count, rounding halves away from zero."""
        def window_sum(t: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(t, self.filter, self.stride, self.padding, self.ceil_mode,
                                divisor_override=1)

        total = window_sum(q.double()).round().long()
        count = window_sum(torch.ones_like(q[:1, :1], dtype=torch.float64)).round().long()
        half = torch.where(total > 0, count // 2, -(count // 2))
        return torch.div(total + half, count, rounding_mode="trunc")


class QAdd(nn.Module):
    """ADD: each input keeps its own parameters; the output has its own range."""

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        self.activation = layer.activation
        self.out = ActivationRange()

    def forward(self, a: QValue, b: QValue, mode: str) -> QValue:
        y = _activate(a.real + b.real, self.activation)
        if mode != "quant":
            if mode == "observe":
                self.out.observe(y)
            return QValue(y)
        self.out.track(y)
        scale, zp = self.output_qparams(a.scale, b.scale)
        q = _clamp_codes(self.integer_add(a, b, scale, zp), self.activation, scale, zp)
        return QValue(straight_through(y, dequantize(q, scale, zp),
                                       *representable_range(scale, zp)), q, scale, zp)

    def output_qparams(self, scale1: float, scale2: float) -> tuple[float, int]:
        """The output's (scale, zero point), widened if needed to the least scale TFLM's
        ADD can rescale to: its output multiplier 2 * max(input scales) / (2^20 * output
        scale) must stay below 1 (here with a factor 2 to spare)."""
        least = 2.0 * max(scale1, scale2) / (1 << (ADD_LEFT_SHIFT - 1))
        return self.out.qparams(min_scale=least)

    @staticmethod
    def integer_add(a: QValue, b: QValue, scale: float, zero_point: int) -> torch.Tensor:
        """TFLM's int8 ADD: both inputs rescaled to twice the larger input scale with 20 bits
        of headroom, summed, rescaled to the output."""
        s1, s2, so = (float(np.float32(s)) for s in (a.scale, b.scale, scale))
        twice_max = 2.0 * max(s1, s2)
        m1, sh1 = quantize_multiplier_smaller_than_one(s1 / twice_max)
        m2, sh2 = quantize_multiplier_smaller_than_one(s2 / twice_max)
        mo, sho = quantize_multiplier_smaller_than_one(twice_max / ((1 << ADD_LEFT_SHIFT) * so))
        x1 = requantize((a.q - a.zero_point) << ADD_LEFT_SHIFT, m1, sh1, None)
        x2 = requantize((b.q - b.zero_point) << ADD_LEFT_SHIFT, m2, sh2, None)
        return requantize(x1 + x2, mo, sho, None) + zero_point


class QFlatten(nn.Module):
    """RESHAPE: the same codes and parameters, flattened."""

    def forward(self, x: QValue, mode: str) -> QValue:
        flat = x.real.flatten(1)
        if mode != "quant":
            return QValue(flat)
        return QValue(flat, x.q.flatten(1), x.scale, x.zero_point)


class QSoftmax(nn.Module):
    """SOFTMAX with TFLite's fixed output grid (scale 1/256, zero point -128).

    The codes here are the float softmax of the dequantized input rounded onto that grid;
    TFLM computes them in gemmlowp fixed point, which can differ by one code. It is the
    model's last op, so nothing downstream amplifies the difference.
    """

    def forward(self, x: QValue, mode: str) -> QValue:
        y = torch.softmax(x.real, dim=-1)
        if mode != "quant":
            return QValue(y)
        q = (round_half_away_tensor(y.detach() / SOFTMAX_SCALE).long()
             + SOFTMAX_ZERO_POINT).clamp(QMIN, QMAX)
        real = dequantize(q, SOFTMAX_SCALE, SOFTMAX_ZERO_POINT)
        return QValue(straight_through(y, real, 0.0, 1.0), q, SOFTMAX_SCALE, SOFTMAX_ZERO_POINT)


@dataclass(frozen=True)
class ConstantStep:
    """One op of a layer written as several: ``op`` of the running value and a constant
    int8 scalar (``code`` at ``scale``), its output on the grid of range ``out_range``."""

    op: str
    attrs: dict
    code: int
    scale: float
    out_range: tuple[float, float]

    @property
    def out_qparams(self) -> tuple[float, int]:
        return activation_qparams(*self.out_range)


# Hardsigmoid has no TFLite op; TFLite's converter writes relu6(x + 3) / 6 as an ADD of the
# constant 3 with a fused RELU6 and a MUL by the constant 1/6, and so does convert.
HARD_SIGMOID_STEPS = (
    ConstantStep("ADD", {"activation": "RELU6"}, 127, 3.0 / 127.0, (0.0, 6.0)),
    ConstantStep("MUL", {"activation": "NONE"}, 127, 1.0 / 6.0 / 127.0, (0.0, 1.0)),
)
# Outputs on a grid TFLite fixes (or the last step's): (scale, zero point) by op.
FIXED_OUTPUT_QPARAMS = {"LOGISTIC": (1.0 / 256.0, -128), "TANH": (1.0 / 128.0, 0),
                        "HARD_SIGMOID": HARD_SIGMOID_STEPS[-1].out_qparams}
_FLOAT_ACTIVATIONS = {"LOGISTIC": torch.sigmoid, "TANH": torch.tanh,
                      "HARD_SWISH": F.hardswish, "HARD_SIGMOID": F.hardsigmoid}


class QElementwise(nn.Module):
    """MUL, SUB, MEAN and the elementwise activations (LOGISTIC, TANH, HARD_SWISH,
    LEAKY_RELU). In quant mode the codes are the numpy reference's (edgekd.registry) on
    the input codes, with the parameters its prepare function derives from the same
    scales and zero points convert writes: the int8 graph computes them exactly."""

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        self.kind = layer.kind
        self.op = layer_op(layer)
        self.attrs = dict(layer.attrs)
        self.activation = layer.activation
        self.out = ActivationRange()

    def compute(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.kind == "mul":
            return _activate(xs[0] * xs[1], self.activation)
        if self.kind == "sub":
            return _activate(xs[0] - xs[1], self.activation)
        if self.kind == "mean":
            return xs[0].mean(dim=self.attrs["dims"], keepdim=self.attrs["keepdim"])
        if self.op == "LEAKY_RELU":
            return F.leaky_relu(xs[0], self.attrs["alpha"])
        return _FLOAT_ACTIVATIONS[self.op](xs[0])

    def output_qparams(self, inputs: list[tuple[float, int]]) -> tuple[float, int]:
        """The output's (scale, zero point): TFLite's fixed grid, or the observed range
        widened to what the op's TFLM kernel can rescale to."""
        if self.op in FIXED_OUTPUT_QPARAMS:
            return FIXED_OUTPUT_QPARAMS[self.op]
        scales = [s for s, _ in inputs]
        least = {"MUL": scales[0] * scales[-1],  # multiplier <= 1: no left shift
                 "SUB": 2.0 * max(scales) / (1 << (ADD_LEFT_SHIFT - 1)),
                 "HARD_SWISH": scales[0] / 64.0,  # TFLM needs output >= input / 128
                 "MEAN": scales[0] / 256.0}.get(self.op, 0.0)
        return self.out.qparams(min_scale=least)

    def forward(self, *args) -> QValue:
        *xs, mode = args
        y = self.compute(*(x.real for x in xs))
        if mode != "quant":
            if mode == "observe" and self.op not in FIXED_OUTPUT_QPARAMS:
                self.out.observe(y)
            return QValue(y)
        if self.op not in FIXED_OUTPUT_QPARAMS:
            self.out.track(y)
        scale, zp = self.output_qparams([(x.scale, x.zero_point) for x in xs])
        q = self.integer(xs, y.shape, scale, zp)
        return QValue(straight_through(y, dequantize(q, scale, zp),
                                       *representable_range(scale, zp)), q, scale, zp)

    def integer(self, xs: list[QValue], out_shape, scale: float, zp: int) -> torch.Tensor:
        """The op's reference on the input codes (torch layout, the batch included)."""
        codes = [x.q.detach().cpu().numpy().astype(np.int8) for x in xs]
        if self.op == "HARD_SIGMOID":
            x = xs[0]
            value, qparams = codes[0], (x.scale, x.zero_point)
            for step in HARD_SIGMOID_STEPS:
                constant = np.array([step.code], dtype=np.int8)
                value = _reference(step.op, step.attrs, step.attrs["activation"],
                                   [value, constant], [qparams, (step.scale, 0)],
                                   step.out_qparams)
                qparams = step.out_qparams
        else:
            value = _reference(self.op, self.attrs, self.activation, codes,
                               [(x.scale, x.zero_point) for x in xs], (scale, zp),
                               self.attrs["dims"] if self.kind == "mean" else None)
        return torch.from_numpy(value.astype(np.int64)).to(xs[0].q.device)


def _reference(op: str, attrs: dict, activation: str, codes: list[np.ndarray],
               qparams: list[tuple[float, int]], out_qparams: tuple[float, int],
               axis: tuple[int, ...] | None = None) -> np.ndarray:
    """``op``'s numpy reference on int8 codes of torch layout (the batch first), with the
    parameters its prepare function derives from these scales and zero points; ``axis``:
    a reduction's torch dims."""
    from edgekd.shapes import broadcast_shape

    shape = broadcast_shape(*(c.shape for c in codes)) if len(codes) > 1 else codes[0].shape
    if axis is not None:
        shape = tuple(1 if d in axis else n for d, n in enumerate(shape)) \
            if attrs["keepdim"] else tuple(n for d, n in enumerate(shape) if d not in axis)
    graph = single_node_graph(op, attrs, activation,
                              [(c.shape[1:], *q) for c, q in zip(codes, qparams)],
                              (shape[1:], *out_qparams))
    spec = op_spec(op)
    params = spec.prepare(graph, graph.nodes[0])
    if axis is not None:  # reduce the torch dims of the batch, not the IR's
        params = dataclasses.replace(params, axis=axis)
    return spec.evaluate(params, codes, tuple(shape))


def layer_op(layer: Layer) -> str:
    """The IR op of an elementwise or reduction layer."""
    return layer.attrs["op"] if layer.kind == "activation" else layer.kind.upper()


def single_node_graph(op: str, attrs: dict, activation: str,
                      inputs: list[tuple[tuple[int, ...], float, int]],
                      output: tuple[tuple[int, ...], float, int]) -> Graph:
    """A one-node graph of ``op`` over tensors in torch's layout without the batch (an
    ``inputs`` entry: shape, scale, zero point), to prepare the op's parameters from."""
    tensors = {}
    names = [f"x{i}" for i in range(len(inputs))]
    for name, (shape, scale, zp) in zip([*names, "y"], [*inputs, output]):
        tensors[name] = Tensor(name, (1, *shape), "int8", QuantParams.per_tensor(scale, zp))
    node_attrs = {"activation": activation} if op in ("MUL", "SUB", "ADD") else {}
    if op == "LEAKY_RELU":
        node_attrs["alpha"] = attrs["alpha"]
    if op == "MEAN":  # torch's dims shifted by the batch dim added above
        node_attrs.update(axis=tuple(attrs["dims"]), keep_dims=attrs["keepdim"])
    return Graph(op.lower(), tensors, [Node(op, op.lower(), names, ["y"], node_attrs)],
                 names, ["y"])


def build_layer(layer: Layer) -> nn.Module:
    if layer.kind in ("conv", "linear"):
        return QWeighted(layer)
    if layer.kind in ("max_pool", "avg_pool"):
        return QPool(layer)
    if layer.kind == "add":
        return QAdd(layer)
    if layer.kind == "flatten":
        return QFlatten()
    if layer.kind == "softmax":
        return QSoftmax()
    return QElementwise(layer)
