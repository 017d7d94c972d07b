"""Random valid int8 graphs for the code generator's tests: ``random_graph(seed)``.

Each seed gives one graph, always the same: a stem, then blocks drawn at random, then a
head. Blocks cover every op of the registry (``GENERATED_OPS``) and every situation the planner and the
fusion meet: plain chains (convolutions with any kernel, stride, dilation and padding;
depthwise with multipliers; pools), residuals (``ADD(x, f(x))`` with f one or two layers,
the convolution-of-the-skip ``ADD(x, CONV(x))``, long skips over several layers), two
branches joined by an ADD, RESHAPEs that move nothing, and heads with FULLY_CONNECTED,
SOFTMAX, float boundaries (QUANTIZE / DEQUANTIZE) and DYNAMIC_FULLY_CONNECTED.
Quantization is drawn widely (scales over decades, any zero point, per-channel weight
scales over decades, dead channels, large biases), within what TFLite's int8 kernels
accept (an ADD's output scale at least 2^-20 of twice its larger input scale is far
inside; conv and FC multipliers of any size).
"""
from __future__ import annotations

import numpy as np

from edgekd.ir import OPS, Graph, Node, QuantParams, Tensor
from edgekd.shapes import conv_output_size

from tests.codegen.graphs import GraphBuilder


# Every op of the registry but the LSTM: a sequence op over 3-D tensors, with no place in
# the NHWC blocks here (its own tests verify it against TFLM and in C on three shapes).
NOT_GENERATED = ("UNIDIRECTIONAL_SEQUENCE_LSTM",)
GENERATED_OPS = tuple(op for op in OPS if op not in NOT_GENERATED)


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

    def uint8_input(self, shape) -> tuple[str, str]:
        """A uint8 graph input and its REQUANTIZE: (uint8 name, int8 name)."""
        name = "input_u8"
        self.tensors[name] = Tensor(name, tuple(shape), "uint8", QuantParams.per_tensor(
            float(10 ** self.rng.uniform(-3, 0)), int(self.rng.integers(0, 256))))
        return name, self._node("REQUANTIZE", None, [name], shape, {})

    def near(self, x: str, low: float = -1.0, high: float = 1.0) -> QuantParams:
        """A grid whose scale is ``x``'s times 10^[low, high], any zero point."""
        return QuantParams.per_tensor(
            float(self.tensors[x].quant.scalar_scale * 10 ** self.rng.uniform(low, high)),
            int(self.rng.integers(-128, 128)))

    def layout(self, op: str, inputs: list[str], shape, attrs: dict) -> str:
        """A layout op: the output on its (first) input's grid."""
        return self._node(op, None, inputs, shape, attrs, quant=self.tensors[inputs[0]].quant)

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
    boundary = rng.random()
    float_boundary = boundary < 0.15
    if float_boundary or boundary > 0.9:
        # A float or uint8 input replaces the int8 one the builder made.
        del g.tensors[g.input]
        g.input, x = g.float_input(shape) if float_boundary else g.uint8_input(shape)
    else:
        x = g.input
    for _ in range(int(rng.integers(1, max_blocks + 1))):
        x = _block(g, rng, x)
        if rng.random() < 0.7:
            x = _extra_layer(g, rng, x)
    return g.build(_head(g, rng, x, float_boundary))


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
    if kind == 2 and rng.random() < 0.5 and not float_boundary:  # an int32 output
        return g.arg(x, str(rng.choice(["ARG_MAX", "ARG_MIN"])), 1)
    if kind == 3:
        return g.dynamic_fully_connected(g.dequantize(x), int(rng.integers(1, 12)))
    x = g.fully_connected(x, int(rng.integers(1, 12)))
    if rng.random() < 0.5:
        x = g.softmax(x)
    return g.dequantize(x) if float_boundary else x


UNARY = ("REQUANTIZE", "RELU", "RELU6", "LEAKY_RELU", "LOGISTIC", "TANH", "HARD_SWISH")
BINARY = ("MUL", "SUB", "MINIMUM", "MAXIMUM", "PRELU")
REDUCE = ("MEAN", "SUM", "REDUCE_MAX")
LAYOUT = ("PAD", "CONCATENATION", "STRIDED_SLICE", "TRANSPOSE", "TILE", "GATHER",
          "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR")
MAX_SIDE = 16  # layout ops that grow H or W stop here, to keep the graphs small


def _extra_layer(g: RandomGraphBuilder, rng, x: str) -> str:
    """One arithmetic, activation, reduction or layout op on ``x`` (NHWC in, NHWC out),
    with parameters TFLite's int8 kernels accept."""
    op = str(rng.choice([*UNARY, *BINARY, *REDUCE, *LAYOUT]))
    if op in UNARY:
        quant = {"REQUANTIZE": g.near(x), "RELU": g.near(x, -0.5, 0.5),
                 "LEAKY_RELU": g.near(x, -0.5, 0.5),
                 "HARD_SWISH": g.near(x, -1.0, 1.0)}.get(op)
        attrs = {"alpha": float(rng.uniform(-0.5, 0.5))} if op == "LEAKY_RELU" else {}
        if op in ("LOGISTIC", "TANH") and g.tensors[x].quant.scalar_scale > 1:
            # TFLite's kernels take input scales below 16; products and sums grow them.
            x = g._node("REQUANTIZE", None, [x], g.tensors[x].shape, {},
                        quant=QuantParams.per_tensor(float(10 ** rng.uniform(-3, -1)), 0))
        if quant is None:
            return g.unary(x, op, **attrs)  # a fixed output grid
        return g._node(op, None, [x], g.tensors[x].shape, attrs, quant=quant)
    if op in BINARY:
        return _binary(g, rng, x, op)
    if op in REDUCE:
        return _reduce(g, rng, x, op)
    return _layout(g, rng, x, op)


def _binary(g: RandomGraphBuilder, rng, x: str, op: str) -> str:
    c = g.tensors[x].shape[3]
    s = g.tensors[x].quant.scalar_scale
    if op in ("MINIMUM", "MAXIMUM"):  # one grid for all: a constant per channel
        other = g.constant(f"{op.lower()}_{len(g.nodes)}/constant", (c,), g.tensors[x].quant)
        return g.binary(x, other, op)
    if op == "PRELU":
        alpha = g.constant(f"prelu_{len(g.nodes)}/alpha", (1, 1, c), QuantParams.per_tensor(
            float(10 ** rng.uniform(-3, -1)), int(rng.integers(-128, 128))))
        return g._node(op, None, [x, alpha], g.tensors[x].shape, {}, quant=g.near(x, -0.5, 0.5))
    y = _same_shape_layer(g, rng, x)
    a, b = (x, y) if rng.random() < 0.5 else (y, x)
    if op == "MUL":  # a product of codes up to 2^14: an output scale a few decades above
        product = s * g.tensors[y].quant.scalar_scale
        quant = QuantParams.per_tensor(float(product * 10 ** rng.uniform(1, 3)),
                                       int(rng.integers(-128, 128)))
    else:
        top = max(s, g.tensors[y].quant.scalar_scale)
        quant = QuantParams.per_tensor(float(top * 10 ** rng.uniform(-0.5, 1)),
                                       int(rng.integers(-128, 128)))
    return g._node(op, None, [a, b], g.tensors[x].shape, {"activation": _activation(rng)},
                   quant=quant)


def _reduce(g: RandomGraphBuilder, rng, x: str, op: str) -> str:
    """MEAN, SUM or REDUCE_MAX over H, W or both, the dims kept (the graph stays NHWC)."""
    from edgekd.shapes import reduced_shape

    n, h, w, c = g.tensors[x].shape
    axis = [(1,), (2,), (1, 2)][int(rng.integers(3))]
    count = int(np.prod([(n, h, w, c)[d] for d in axis]))
    low, high = {"MEAN": (-1.0, 0.5), "SUM": (np.log10(count) - 1, np.log10(count) + 0.5),
                 "REDUCE_MAX": (0.0, 0.0)}[op]
    quant = g.tensors[x].quant if op == "REDUCE_MAX" else g.near(x, low, high)
    return g._node(op, None, [x], reduced_shape((n, h, w, c), axis, True),
                   {"axis": axis, "keep_dims": True}, quant=quant)


def _layout(g: RandomGraphBuilder, rng, x: str, op: str) -> str:
    n, h, w, c = shape = g.tensors[x].shape
    if op == "PAD":
        pads = [(0, 0)] + [(int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(3)]
        zp = g.tensors[x].quant.scalar_zero_point
        value = zp if rng.random() < 0.5 else int(rng.integers(-128, 128))
        return g.layout(op, [x], tuple(d + a + b for d, (a, b) in zip(shape, pads)),
                        {"paddings": tuple(pads), "pad_value": value})
    if op == "CONCATENATION":  # the other operand moved onto x's grid first
        y = _same_shape_layer(g, rng, x)
        y = g._node("REQUANTIZE", None, [y], shape, {}, quant=g.tensors[x].quant)
        axis = int(rng.integers(1, 4))
        out = list(shape)
        out[axis] *= 2
        return g.layout(op, [x, y] if rng.random() < 0.5 else [y, x], tuple(out),
                        {"axis": axis})
    if op == "STRIDED_SLICE":
        begin, strides, size = [0], [1], [n]
        for d in (h, w, c):
            stride = int(rng.choice([1, 1, 2, -1, -2]))
            count = int(rng.integers(1, (d - 1) // abs(stride) + 2))
            span = abs(stride) * (count - 1)
            start = int(rng.integers(0, d - span))
            begin.append(start + span if stride < 0 else start)
            strides.append(stride)
            size.append(count)
        return g.layout(op, [x], tuple(size), {"begin": tuple(begin),
                                               "strides": tuple(strides), "size": tuple(size)})
    if op == "TRANSPOSE":  # H and W exchanged: still NHWC for the blocks after
        return g.layout(op, [x], (n, w, h, c), {"perm": (0, 2, 1, 3)})
    if op == "TILE":
        mult = (1, 1 + int(h * 2 <= MAX_SIDE and rng.random() < 0.5),
                1 + int(w * 2 <= MAX_SIDE and rng.random() < 0.5), int(rng.integers(1, 3)))
        return g.layout(op, [x], tuple(d * m for d, m in zip(shape, mult)),
                        {"multiples": mult})
    if op == "GATHER":
        axis = int(rng.integers(1, 4))
        indices = tuple(int(i) for i in rng.integers(0, shape[axis], int(rng.integers(1, 6))))
        out = list(shape)
        out[axis] = len(indices)
        return g.layout(op, [x], tuple(out), {"axis": axis, "indices": indices})
    size = (int(rng.integers(1, min(2 * h, MAX_SIDE) + 1)),
            int(rng.integers(1, min(2 * w, MAX_SIDE) + 1)))
    align_corners = bool(rng.random() < 0.3)
    half_pixel = not align_corners and bool(rng.random() < 0.5)
    return g.layout(op, [x], (n, *size, c), {"align_corners": align_corners,
                                             "half_pixel_centers": half_pixel})
