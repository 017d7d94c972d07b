"""Small int8 graphs for the code generator's tests, built layer by layer.

``GraphBuilder`` draws weights, biases and quantization parameters from a seeded rng so
that every layer computes something non-trivial; tensor and node names can be chosen
freely (the identifier tests give hostile ones).
"""
from __future__ import annotations

import numpy as np

from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.shapes import conv_output_size


class GraphBuilder:
    """Append layers to a graph; each method returns the name of its output tensor."""

    def __init__(self, name: str, input_shape: tuple[int, ...], seed: int = 0,
                 input_name: str = "input") -> None:
        self.rng = np.random.default_rng(seed)
        self.name = name
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.input = self._activation(input_name, input_shape)

    def _q(self) -> QuantParams:
        return QuantParams.per_tensor(float(self.rng.uniform(0.02, 0.1)),
                                      int(self.rng.integers(-20, 20)))

    def _activation(self, name: str, shape, quant: QuantParams | None = None) -> str:
        assert name not in self.tensors, name
        self.tensors[name] = Tensor(name, tuple(shape), "int8", quant or self._q())
        return name

    def _const(self, name: str, data: np.ndarray, quant: QuantParams) -> str:
        self.tensors[name] = Tensor(name, data.shape, str(data.dtype), quant, data)
        return name

    def _node(self, op: str, name: str | None, inputs: list[str], shape, attrs: dict,
              out: str | None = None, quant: QuantParams | None = None) -> str:
        name = name or f"{op.lower()}_{len(self.nodes)}"
        out = self._activation(out or name, shape, quant)
        self.nodes.append(Node(op, name, inputs, [out], attrs))
        return out

    def _weights_and_bias(self, prefix: str, shape, axis: int, x: str) -> tuple[str, str]:
        channels = shape[axis]
        scales = self.rng.uniform(0.002, 0.02, channels)
        w = self._const(f"{prefix}/weights", self.rng.integers(-127, 128, shape, dtype=np.int8),
                        QuantParams(scales, np.zeros(channels), axis))
        in_scale = self.tensors[x].quant.scalar_scale
        b = self._const(f"{prefix}/bias",
                        self.rng.integers(-3000, 3000, channels, dtype=np.int32),
                        QuantParams(np.float32(in_scale) * scales.astype(np.float32),
                                    np.zeros(channels), 0))
        return w, b

    def conv(self, x: str, out_c: int, kernel=(3, 3), stride=(1, 1), padding="SAME",
             activation="RELU", name: str | None = None, out: str | None = None) -> str:
        n, h, w_, c = self.tensors[x].shape
        prefix = f"{name or 'conv'}_{len(self.nodes)}"
        w, b = self._weights_and_bias(prefix, (out_c, *kernel, c), 0, x)
        oh = conv_output_size(h, kernel[0], stride[0], 1, padding)
        ow = conv_output_size(w_, kernel[1], stride[1], 1, padding)
        return self._node("CONV_2D", name, [x, w, b], (n, oh, ow, out_c),
                          {"stride": stride, "dilation": (1, 1), "padding": padding,
                           "activation": activation}, out)

    def depthwise(self, x: str, kernel=(3, 3), multiplier=1, activation="RELU6",
                  name: str | None = None) -> str:
        n, h, w_, c = self.tensors[x].shape
        prefix = f"{name or 'dw'}_{len(self.nodes)}"
        w, b = self._weights_and_bias(prefix, (1, *kernel, c * multiplier), 3, x)
        return self._node("DEPTHWISE_CONV_2D", name, [x, w, b], (n, h, w_, c * multiplier),
                          {"stride": (1, 1), "dilation": (1, 1), "padding": "SAME",
                           "activation": activation, "depth_multiplier": multiplier})

    def pool(self, x: str, op="AVERAGE_POOL_2D", size=(2, 2), name: str | None = None) -> str:
        n, h, w, c = self.tensors[x].shape
        quant = self.tensors[x].quant
        return self._node(op, name, [x], (n, h // size[0], w // size[1], c),
                          {"filter": size, "stride": size, "padding": "VALID",
                           "activation": "NONE"}, quant=QuantParams(quant.scale, quant.zero_point))

    def add(self, a: str, b: str, name: str | None = None) -> str:
        return self._node("ADD", name, [a, b], self.tensors[a].shape, {"activation": "NONE"})

    def reshape(self, x: str, shape, name: str | None = None, out: str | None = None) -> str:
        quant = self.tensors[x].quant
        return self._node("RESHAPE", name, [x], shape, {}, out,
                          quant=QuantParams(quant.scale, quant.zero_point))

    def fully_connected(self, x: str, units: int, name: str | None = None) -> str:
        depth = self.tensors[x].shape[-1]
        rows = self.tensors[x].size // depth
        prefix = f"{name or 'fc'}_{len(self.nodes)}"
        w, b = self._weights_and_bias(prefix, (units, depth), 0, x)
        return self._node("FULLY_CONNECTED", name, [x, w, b], (rows, units),
                          {"activation": "NONE"})

    def softmax(self, x: str, name: str | None = None, out: str | None = None) -> str:
        return self._node("SOFTMAX", name, [x], self.tensors[x].shape, {"beta": 1.0}, out,
                          quant=QuantParams.per_tensor(1 / 256, -128))

    def reduce(self, x: str, op: str = "MEAN", axis=(1, 2), keep_dims: bool = True,
               name: str | None = None) -> str:
        from edgekd.shapes import reduced_shape

        shape = reduced_shape(self.tensors[x].shape, tuple(axis), keep_dims)
        quant = self.tensors[x].quant if op == "REDUCE_MAX" else None
        return self._node(op, name, [x], shape, {"axis": tuple(axis), "keep_dims": keep_dims},
                          quant=quant)

    def arg(self, x: str, op: str = "ARG_MAX", axis: int = -1, name: str | None = None) -> str:
        shape = self.tensors[x].shape
        axis %= len(shape)
        name = name or f"{op.lower()}_{len(self.nodes)}"
        self.tensors[name] = Tensor(name, tuple(n for d, n in enumerate(shape) if d != axis),
                                    "int32")
        self.nodes.append(Node(op, name, [x], [name], {"axis": axis}))
        return name

    def unary(self, x: str, op: str, name: str | None = None, **attrs) -> str:
        fixed = {"LOGISTIC": QuantParams.per_tensor(1 / 256, -128),
                 "TANH": QuantParams.per_tensor(1 / 128, 0),
                 "RELU6": self.tensors[x].quant}
        return self._node(op, name, [x], self.tensors[x].shape, attrs, quant=fixed.get(op))

    def binary(self, a: str, b: str, op: str, name: str | None = None, **attrs) -> str:
        from edgekd.shapes import broadcast_shape

        shape = broadcast_shape(self.tensors[a].shape, self.tensors[b].shape)
        quant = self.tensors[a].quant if op in ("MINIMUM", "MAXIMUM") else None
        return self._node(op, name, [a, b], shape, attrs, quant=quant)

    def constant(self, name: str, shape, quant: QuantParams | None = None) -> str:
        return self._const(name, self.rng.integers(-128, 128, shape, dtype=np.int8),
                           quant or self._q())

    def build(self, output: str) -> Graph:
        return Graph(self.name, dict(self.tensors), list(self.nodes), [self.input],
                     [output]).validate()


def small_cnn(seed: int = 0, name: str = "small_cnn") -> Graph:
    """conv -> depthwise -> conv, a residual ADD, pool, RESHAPE, fc, softmax: every
    planner situation (in-place ADD, aliasing RESHAPE, a tensor live across layers)."""
    g = GraphBuilder(name, (1, 8, 6, 3), seed)
    a = g.conv(g.input, 8, stride=(1, 1))
    b = g.depthwise(a)
    c = g.conv(b, 8, kernel=(1, 1), activation="NONE")
    d = g.add(a, c)
    e = g.pool(d, "MAX_POOL_2D", (2, 2))
    f = g.pool(e, "AVERAGE_POOL_2D", (2, 3))
    flat = g.reshape(f, (1, 2 * 1 * 8))
    logits = g.fully_connected(flat, 5)
    return g.build(g.softmax(logits))
