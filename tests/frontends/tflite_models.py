"""Synthetic graphs for the TFLite front-end tests: every supported op and option once.

Node names equal their output tensor's name, which is what read_tflite derives them from
(TFLite operators carry no names), so the graphs survive a round trip unchanged.

Shapes, strides and dilations are deliberately non-square so that a swapped height/width
anywhere between IR, file and TFLM changes the result.
"""
from __future__ import annotations

import numpy as np

from edgekd.ir import Graph, Node, QuantParams, Tensor


def _q(scale: float, zero_point: int) -> QuantParams:
    return QuantParams.per_tensor(scale, zero_point)


def _weights(rng, name: str, shape, axis: int | None) -> Tensor:
    channels = shape[axis] if axis is not None else 1
    scales = rng.uniform(0.002, 0.02, channels)
    return Tensor(name, shape, "int8", QuantParams(scales, np.zeros(channels), axis),
                  rng.integers(-127, 128, shape, dtype=np.int8))


def _bias(rng, in_scale: float, weights: Tensor, channels: int) -> Tensor:
    """int32 bias with TFLite's scale: input scale x weight scale (per channel or not)."""
    scales = np.float32(in_scale) * weights.quant.scale.astype(np.float32)
    quant = QuantParams(scales, np.zeros(scales.size), 0 if scales.size > 1 else None)
    return Tensor(weights.name.replace("/w", "/b"), (channels,), "int32", quant,
                  rng.integers(-2000, 2000, channels, dtype=np.int32))


def all_ops_graph(seed: int = 0) -> Graph:
    """float input -> QUANTIZE -> ... every int8 op ... -> DEQUANTIZE -> float output."""
    rng = np.random.default_rng(seed)
    w1 = _weights(rng, "conv/w", (8, 3, 2, 3), axis=0)
    w2 = _weights(rng, "dw/w", (1, 3, 3, 16), axis=3)
    w3 = _weights(rng, "fc/w", (10, 16), axis=None)
    b2 = _bias(rng, 0.04, w2, channels=16)
    b3 = _bias(rng, 0.08, w3, channels=10)
    tensors = [
        Tensor("input", (1, 9, 6, 3), "float32"),
        Tensor("x", (1, 9, 6, 3), "int8", _q(1 / 64, 3)),
        w1,
        Tensor("conv", (1, 5, 6, 8), "int8", _q(0.04, -128)),
        w2, b2,
        Tensor("dw", (1, 3, 2, 16), "int8", _q(0.05, -128)),
        Tensor("maxpool", (1, 2, 2, 16), "int8", _q(0.05, -128)),
        Tensor("avgpool", (1, 2, 1, 16), "int8", _q(0.05, -128)),
        Tensor("add", (1, 2, 1, 16), "int8", _q(0.08, -20)),
        Tensor("flat", (2, 16), "int8", _q(0.08, -20)),
        w3, b3,
        Tensor("fc", (2, 10), "int8", _q(0.1, 5)),
        Tensor("softmax", (2, 10), "int8", _q(1 / 256, -128)),
        Tensor("output", (2, 10), "float32"),
    ]
    conv = {"dilation": (1, 1), "padding": "SAME", "activation": "RELU6"}
    nodes = [
        Node("QUANTIZE", "x", ["input"], ["x"]),
        Node("CONV_2D", "conv", ["x", "conv/w"], ["conv"], {**conv, "stride": (2, 1)}),
        Node("DEPTHWISE_CONV_2D", "dw", ["conv", "dw/w", "dw/b"], ["dw"],
             {"stride": (1, 1), "dilation": (1, 2), "padding": "VALID", "activation": "RELU",
              "depth_multiplier": 2}),
        Node("MAX_POOL_2D", "maxpool", ["dw"], ["maxpool"],
             {"filter": (2, 1), "stride": (1, 1), "padding": "VALID", "activation": "NONE"}),
        Node("AVERAGE_POOL_2D", "avgpool", ["maxpool"], ["avgpool"],
             {"filter": (1, 2), "stride": (1, 2), "padding": "SAME", "activation": "RELU"}),
        Node("ADD", "add", ["avgpool", "avgpool"], ["add"], {"activation": "NONE"}),
        Node("RESHAPE", "flat", ["add"], ["flat"]),
        Node("FULLY_CONNECTED", "fc", ["flat", "fc/w", "fc/b"], ["fc"], {"activation": "NONE"}),
        Node("SOFTMAX", "softmax", ["fc"], ["softmax"], {"beta": 1.0}),
        Node("DEQUANTIZE", "output", ["softmax"], ["output"]),
    ]
    return Graph("all_ops", {t.name: t for t in tensors}, nodes, ["input"],
                 ["output"]).validate()


def fc_keep_dims_graph(seed: int = 1) -> Graph:
    """FULLY_CONNECTED with a 3-D output (keep_num_dims) and per-channel weights, no bias."""
    rng = np.random.default_rng(seed)
    w = _weights(rng, "w", (6, 4), axis=0)
    tensors = [Tensor("x", (1, 3, 4), "int8", _q(0.1, 7)), w,
               Tensor("y", (1, 3, 6), "int8", _q(0.05, -3))]
    nodes = [Node("FULLY_CONNECTED", "y", ["x", "w"], ["y"], {"activation": "RELU"})]
    return Graph("fc_keep_dims", {t.name: t for t in tensors}, nodes, ["x"], ["y"]).validate()


def assert_same_graph(a: Graph, b: Graph) -> None:
    """Field-by-field equality: tensors (shape, dtype, quant, data bytes), nodes, io."""
    assert (a.name, a.inputs, a.outputs) == (b.name, b.inputs, b.outputs)
    assert list(a.tensors) == list(b.tensors)
    for name, ta in a.tensors.items():
        tb = b.tensors[name]
        assert (ta.shape, ta.dtype) == (tb.shape, tb.dtype), name
        assert (ta.quant is None) == (tb.quant is None), name
        if ta.quant is not None:
            assert ta.quant.axis == tb.quant.axis, name
            assert np.array_equal(ta.quant.scale, tb.quant.scale), name
            assert np.array_equal(ta.quant.zero_point, tb.quant.zero_point), name
        assert (ta.data is None) == (tb.data is None), name
        if ta.data is not None:
            assert ta.data.dtype == tb.data.dtype and ta.data.shape == tb.data.shape, name
            assert ta.data.tobytes() == tb.data.tobytes(), name
    assert len(a.nodes) == len(b.nodes)
    for na, nb in zip(a.nodes, b.nodes):
        assert (na.op, na.name, na.inputs, na.outputs) == (nb.op, nb.name, nb.inputs, nb.outputs)
        assert na.attrs == nb.attrs, na.name
