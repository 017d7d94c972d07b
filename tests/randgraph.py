"""Random valid int8 graphs for the code generator's tests: ``random_graph(seed)``.

Each seed gives one graph, always the same: a stem, then blocks drawn at random, then a
head. Blocks cover the ops of ``GENERATED_OPS`` and every situation the planner and the
fusion meet: plain chains (convolutions with any kernel, stride, dilation and padding;
depthwise with multipliers; pools), residuals (``ADD(x, f(x))`` with f one or two layers,
the convolution-of-the-skip ``ADD(x, CONV(x))``, long skips over several layers), two
branches joined by an ADD, RESHAPEs that move nothing, and heads with FULLY_CONNECTED,
SOFTMAX, float boundaries (QUANTIZE / DEQUANTIZE) and DYNAMIC_FULLY_CONNECTED.
With a stream of its own, blocks of the arithmetic and activation ops (every table
activation, MEAN/SUM/REDUCE_MAX broadcast back by SUB or ADD, a squeeze-excite MUL,
MINIMUM/MAXIMUM, PRELU with a constant alpha) and an ARG_MAX/ARG_MIN head join in.
Quantization is drawn widely (scales over decades, any zero point, per-channel weight
scales over decades, dead channels, large biases), within what TFLite's int8 kernels
accept (an ADD's output scale at least 2^-20 of twice its larger input scale is far
inside; conv and FC multipliers of any size).
"""
from __future__ import annotations

import numpy as np

from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.shapes import conv_output_size

from tests.codegen.graphs import GraphBuilder


# The ops the generator draws (the arithmetic and activation ops merged later, MEAN, MUL,
# PRELU and the others, are not drawn yet).
GENERATED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "DYNAMIC_FULLY_CONNECTED",
                 "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "RESHAPE", "SOFTMAX", "QUANTIZE",
                 "DEQUANTIZE",
                 # the arithmetic and activation blocks (_math_block) and ARG heads
                 "MEAN", "SUM", "REDUCE_MAX", "ARG_MAX", "ARG_MIN", "MUL", "SUB", "MINIMUM",
                 "MAXIMUM", "PRELU", "REQUANTIZE", "RELU", "RELU6", "LEAKY_RELU", "LOGISTIC",
                 "TANH", "HARD_SWISH")


class RandomGraphBuilder(GraphBuilder):
    """GraphBuilder with quantization, weights and biases drawn widely."""

    def _q(self) -> QuantParams:
        return QuantParams.per_tensor(float(10 ** self.rng.uniform(-3, 0)),
                                      int(self.rng.integers(-128, 128)))

    def _weights_and_bias(self, prefix: str, shape, axis: int, x: str) -> tuple[str, str]:
        rng = self.rng
        channels = shape[axis]
        scales = 10 ** rng.uniform(-4, -1, channels)
        data = rng.integers(-127, 128, shape, dtype=np.int8)
        if channels > 1 and rng.random() < 0.3:  # a dead channel
            index = [slice(None)] * len(shape)
            index[axis] = int(rng.integers(channels))
            data[tuple(index)] = 0
        w = self._const(f"{prefix}/weights", data, QuantParams(scales, np.zeros(channels), axis))
        in_scale = self.tensors[x].quant.scalar_scale
        span = int(10 ** rng.uniform(1, 6))
        b = self._const(f"{prefix}/bias", rng.integers(-span, span, channels, dtype=np.int32),
                        QuantParams(np.float32(in_scale) * scales.astype(np.float32),
                                    np.zeros(channels), 0))
        return w, b

    def window_conv(self, x: str, out_c: int, kernel, stride, dilation, padding,
                    activation: str) -> str:
        n, h, w_, c = self.tensors[x].shape
        prefix = f"conv_{len(self.nodes)}"
        w, b = self._weights_and_bias(prefix, (out_c, *kernel, c), 0, x)
        oh = conv_output_size(h, kernel[0], stride[0], dilation[0], padding)
        ow = conv_output_size(w_, kernel[1], stride[1], dilation[1], padding)
        return self._node("CONV_2D", None, [x, w, b], (n, oh, ow, out_c),
                          {"stride": stride, "dilation": dilation, "padding": padding,
                           "activation": activation})

    def window_depthwise(self, x: str, kernel, stride, dilation, padding, multiplier: int,
                         activation: str) -> str:
        n, h, w_, c = self.tensors[x].shape
        prefix = f"dw_{len(self.nodes)}"
        w, b = self._weights_and_bias(prefix, (1, *kernel, c * multiplier), 3, x)
        if self.rng.random() < 0.2:
            b = ""  # no bias: TFLite allows it
        oh = conv_output_size(h, kernel[0], stride[0], dilation[0], padding)
        ow = conv_output_size(w_, kernel[1], stride[1], dilation[1], padding)
        return self._node("DEPTHWISE_CONV_2D", None, [x, w, b], (n, oh, ow, c * multiplier),
                          {"stride": stride, "dilation": dilation, "padding": padding,
                           "activation": activation, "depth_multiplier": multiplier})

    def window_pool(self, x: str, op: str, size, stride, padding) -> str:
        n, h, w, c = self.tensors[x].shape
        quant = self.tensors[x].quant
        oh = conv_output_size(h, size[0], stride[0], 1, padding)
        ow = conv_output_size(w, size[1], stride[1], 1, padding)
        return self._node(op, None, [x], (n, oh, ow, c),
                          {"filter": size, "stride": stride, "padding": padding,
                           "activation": "NONE"},
                          quant=QuantParams(quant.scale, quant.zero_point))

    def add_scaled(self, a: str, b: str, activation: str) -> str:
        """An ADD whose output scale is drawn within a decade or two of its inputs'."""
        top = max(self.tensors[a].quant.scalar_scale, self.tensors[b].quant.scalar_scale)
        quant = QuantParams.per_tensor(float(top * 10 ** self.rng.uniform(-1, 1)),
                                       int(self.rng.integers(-128, 128)))
        return self._node("ADD", None, [a, b], self.tensors[a].shape,
                          {"activation": activation}, quant=quant)

    def float_input(self, shape) -> tuple[str, str]:
        """A float32 graph input and its QUANTIZE: (float name, int8 name)."""
        name = "input_f32"
        self.tensors[name] = Tensor(name, tuple(shape), "float32")
        return name, self._node("QUANTIZE", None, [name], shape, {})

    def dequantize(self, x: str) -> str:
        name = f"dequantize_{len(self.nodes)}"
        self.tensors[name] = Tensor(name, self.tensors[x].shape, "float32")
        self.nodes.append(Node("DEQUANTIZE", name, [x], [name], {}))
        return name

    def dynamic_fully_connected(self, x: str, units: int) -> str:
        depth = self.tensors[x].shape[-1]
        rows = self.tensors[x].size // depth
        prefix = f"dfc_{len(self.nodes)}"
        rng = self.rng
        self.tensors[f"{prefix}/weights"] = Tensor(
            f"{prefix}/weights", (units, depth), "int8",
            QuantParams(10 ** rng.uniform(-3, -1, units), np.zeros(units), 0),
            rng.integers(-127, 128, (units, depth)).astype(np.int8))
        bias = ""
        if rng.random() < 0.5:
            bias = f"{prefix}/bias"
            self.tensors[bias] = Tensor(bias, (units,), "float32", None,
                                        rng.normal(size=units).astype(np.float32))
        name = f"dynamic_fc_{len(self.nodes)}"
        self.tensors[name] = Tensor(name, (rows, units), "float32")
        self.nodes.append(Node("DYNAMIC_FULLY_CONNECTED", name,
                               [x, f"{prefix}/weights", bias], [name],
                               {"activation": str(rng.choice(["NONE", "RELU", "RELU6"]))}))
        return name


def random_graph(seed: int, max_blocks: int = 6) -> Graph:
    """A valid random graph (the module docstring); the same for the same seed."""
    rng = np.random.default_rng(seed)
    shape = (int(rng.choice([1, 1, 1, 2])), int(rng.integers(3, 13)), int(rng.integers(3, 13)),
             int(rng.choice([1, 2, 3, 4, 8, 16])))
    g = RandomGraphBuilder(f"random_{seed}", shape, seed)
    float_boundary = rng.random() < 0.15
    if float_boundary:
        # The float input replaces the int8 one the builder made.
        del g.tensors[g.input]
        g.input, x = g.float_input(shape)
    else:
        x = g.input
    # The arithmetic and activation blocks draw from a stream of their own, so the graphs
    # of the other blocks stay what they were for every seed.
    extra = np.random.default_rng([seed, 1])
    for _ in range(int(rng.integers(1, max_blocks + 1))):
        x = _block(g, rng, x)
        if extra.random() < 0.5:
            x = _with_rng(g, extra, _math_block, x)
    out = _head(g, rng, x, float_boundary)
    if g.tensors[out].dtype == "int8" and extra.random() < 0.3:
        out = _with_rng(g, extra, lambda g, r, y: g.arg(y, str(r.choice(["ARG_MAX", "ARG_MIN"])),
                                                      axis=int(r.integers(len(g.tensors[y].shape)))),
                        out)
    return g.build(out)


def _with_rng(g: RandomGraphBuilder, rng, block, x: str) -> str:
    """``block(g, rng, x)`` with the builder drawing its quantization from ``rng`` too."""
    own, g.rng = g.rng, rng
    try:
        return block(g, rng, x)
    finally:
        g.rng = own


def _math_block(g: RandomGraphBuilder, rng, x: str) -> str:
    """An activation, a squeeze-excite gate, a reduction broadcast back, MINIMUM/MAXIMUM or
    PRELU: every arithmetic and activation op, with TFLite's broadcasting."""
    n, h, w, c = g.tensors[x].shape
    scale = g.tensors[x].quant.scalar_scale
    kind = rng.integers(-1, 5)  # activations twice as often: there are seven
    if kind <= 0:
        op = str(rng.choice(["LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "LEAKY_RELU",
                             "REQUANTIZE"]))
        attrs = {"alpha": float(rng.uniform(-1, 1))} if op == "LEAKY_RELU" else {}
        y = g.unary(x, op, **attrs)
        if op == "HARD_SWISH":  # TFLite needs output scale >= input scale / 128
            g.tensors[y].quant = QuantParams.per_tensor(scale * 10 ** rng.uniform(-1, 1),
                                                        int(rng.integers(-128, 128)))
        return y
    if kind == 1:  # squeeze-excite
        gate = g.unary(g.reduce(x, "MEAN", (1, 2), keep_dims=True),
                       str(rng.choice(["LOGISTIC", "TANH", "RELU6"])))
        return g.binary(x, gate, "MUL", activation=_activation(rng))
    if kind == 2:  # a reduction broadcast back: SUB or ADD
        axis = tuple(d for d in range(4) if rng.random() < 0.5) or (3,)
        r = g.reduce(x, str(rng.choice(["MEAN", "SUM", "REDUCE_MAX"])), axis, keep_dims=True)
        return g.binary(x, r, str(rng.choice(["SUB", "ADD"])), activation=_activation(rng))
    if kind == 3:
        return g.binary(x, g.unary(x, "RELU6"), str(rng.choice(["MINIMUM", "MAXIMUM"])))
    alpha = g.constant(f"alpha_{len(g.nodes)}", (c,) if rng.random() < 0.5 else (1, 1, 1, c))
    return g.binary(x, alpha, "PRELU")


def _activation(rng) -> str:
    return str(rng.choice(["NONE", "RELU", "RELU6"]))


def _channels(rng) -> int:
    return int(rng.choice([1, 2, 3, 4, 5, 8, 12, 16, 20, 32]))


def _same_shape_layer(g: RandomGraphBuilder, rng, x: str) -> str:
    """One layer whose output has ``x``'s shape: conv (SAME, stride 1), depthwise
    (multiplier 1) or a 3x3 stride-1 SAME pool."""
    c = g.tensors[x].shape[3]
    kind = rng.integers(3)
    if kind == 0:
        k = int(rng.choice([1, 3, 5]))
        dilation = (1, 1) if rng.random() < 0.8 else (2, 2)
        return g.window_conv(x, c, (k, k), (1, 1), dilation, "SAME", _activation(rng))
    if kind == 1:
        return g.window_depthwise(x, (3, 3), (1, 1), (1, 1), "SAME", 1, _activation(rng))
    return g.window_pool(x, str(rng.choice(["MAX_POOL_2D", "AVERAGE_POOL_2D"])), (3, 3),
                         (1, 1), "SAME")


def _block(g: RandomGraphBuilder, rng, x: str) -> str:
    n, h, w, c = g.tensors[x].shape
    kind = rng.choice(["chain", "chain", "residual", "conv_of_skip", "branches", "long_skip",
                       "reshape"])
    if kind == "chain":
        op = rng.integers(4)
        k = (int(rng.integers(1, min(h, 5) + 1)), int(rng.integers(1, min(w, 5) + 1)))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = str(rng.choice(["SAME", "VALID"]))
        dilation = (1, 1)
        if rng.random() < 0.2 and padding == "SAME":
            dilation = (2, 2)
            stride = (1, 1)
        if op == 0:
            return g.window_conv(x, _channels(rng), k, stride, dilation, padding,
                                 _activation(rng))
        if op == 1:
            return g.window_depthwise(x, k, stride, dilation, padding,
                                      int(rng.choice([1, 1, 2])), _activation(rng))
        size = (min(h, int(rng.integers(1, 4))), min(w, int(rng.integers(1, 4))))
        return g.window_pool(x, "MAX_POOL_2D" if op == 2 else "AVERAGE_POOL_2D", size,
                             (max(1, size[0]), max(1, size[1])) if rng.random() < 0.5
                             else (1, 1), padding)
    if kind == "residual":
        y = _same_shape_layer(g, rng, x)
        if rng.random() < 0.5:
            y = _same_shape_layer(g, rng, y)
        return g.add_scaled(*((x, y) if rng.random() < 0.5 else (y, x)), _activation(rng))
    if kind == "conv_of_skip":
        k = int(rng.choice([1, 3]))
        y = g.window_conv(x, c, (k, k), (1, 1), (1, 1), "SAME", _activation(rng))
        return g.add_scaled(*((x, y) if rng.random() < 0.5 else (y, x)), _activation(rng))
    if kind == "branches":
        a = _same_shape_layer(g, rng, x)
        b = _same_shape_layer(g, rng, x)
        return g.add_scaled(a, b, _activation(rng))
    if kind == "long_skip":
        y = x
        for _ in range(int(rng.integers(2, 4))):
            y = _same_shape_layer(g, rng, y)
        return g.add_scaled(x, y, _activation(rng))
    # reshape: H and W exchanged, or the pixels in one row; no bytes move
    new = (n, w, h, c) if rng.random() < 0.5 else (n, 1, h * w, c)
    return g.reshape(x, new)


def _head(g: RandomGraphBuilder, rng, x: str, float_boundary: bool) -> str:
    n, h, w, c = g.tensors[x].shape
    kind = rng.integers(4)
    if kind == 0:
        return g.dequantize(x) if float_boundary else x
    if kind == 1 and h * w > 1:
        x = g.window_pool(x, "AVERAGE_POOL_2D", (h, w), (h, w), "VALID")
    x = g.reshape(x, (n, g.tensors[x].size // n))
    if kind == 3:
        return g.dynamic_fully_connected(g.dequantize(x), int(rng.integers(1, 12)))
    x = g.fully_connected(x, int(rng.integers(1, 12)))
    if rng.random() < 0.5:
        x = g.softmax(x)
    return g.dequantize(x) if float_boundary else x
