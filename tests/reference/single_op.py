"""One-node IR graphs for the per-op tests, and the TFLM comparison they all make.

Each builder takes the arrays and quantization parameters a test drew and returns a
validated Graph whose single node maps input "x" (and "x2" for ADD) to output "y".
``assert_matches_tflm`` writes the graph with write_tflite, runs a batch through TFLM and
through the reference, and compares the bytes.
"""
from __future__ import annotations

import numpy as np

from edgekd.frontends.tflite import write_tflite
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.interpreter import run
from edgekd.shapes import conv_output_size
from edgekd.verify.tflm import run_tflm

Quant = tuple[float, int]  # (scale, zero point) of a per-tensor quantized tensor


def _activation(name: str, shape, quant: Quant | None, dtype: str = "int8") -> Tensor:
    q = QuantParams.per_tensor(*quant) if quant is not None else None
    return Tensor(name, tuple(shape), dtype, q)


def _graph(op: str, tensors: list[Tensor], inputs: list[str], attrs: dict) -> Graph:
    graph = Graph(
        name=op.lower(),
        tensors={t.name: t for t in tensors},
        nodes=[Node(op, op.lower(), inputs, ["y"], attrs)],
        inputs=[name for name in inputs if name.startswith("x")],
        outputs=["y"],
    )
    return graph.validate()


def _weights(name: str, data: np.ndarray, scales: np.ndarray, axis: int) -> Tensor:
    scales = np.asarray(scales, dtype=np.float64)
    quant = QuantParams(scales, np.zeros(scales.size, dtype=np.int64),
                        axis if scales.size > 1 else None)
    return Tensor(name, data.shape, "int8", quant, data.astype(np.int8))


def _bias(bias: np.ndarray | None, in_scale: float, w_scales: np.ndarray,
          channels: int) -> Tensor | None:
    if bias is None:
        return None
    # The bias scale is input_scale * weight_scale[c]; TFLM checks it for FULLY_CONNECTED.
    scales = float(np.float32(in_scale)) * np.broadcast_to(np.float32(w_scales), (channels,))
    quant = QuantParams(scales, np.zeros(channels, dtype=np.int64),
                        0 if np.size(w_scales) > 1 else None)
    return Tensor("bias", (channels,), "int32", quant, bias.astype(np.int32))


def _conv_like(op: str, x_shape, weights: np.ndarray, bias, in_q: Quant, w_scales,
               out_q: Quant, out_c: int, attrs: dict) -> Graph:
    kh, kw = weights.shape[1], weights.shape[2]
    oh = conv_output_size(x_shape[1], kh, attrs["stride"][0], attrs["dilation"][0],
                          attrs["padding"])
    ow = conv_output_size(x_shape[2], kw, attrs["stride"][1], attrs["dilation"][1],
                          attrs["padding"])
    axis = 0 if op == "CONV_2D" else 3
    tensors = [_activation("x", x_shape, in_q),
               _weights("w", weights, w_scales, axis),
               _activation("y", (x_shape[0], oh, ow, out_c), out_q)]
    b = _bias(bias, in_q[0], w_scales, out_c)
    if b is not None:
        tensors.append(b)
    return _graph(op, tensors, ["x", "w", "bias" if b is not None else ""], attrs)


def conv2d_graph(x_shape, weights: np.ndarray, bias: np.ndarray | None, in_q: Quant,
                 w_scales, out_q: Quant, *, stride=(1, 1), dilation=(1, 1),
                 padding: str = "SAME", activation: str = "NONE") -> Graph:
    """CONV_2D; ``weights`` [out_c, kh, kw, in_c], one scale or one per output channel."""
    attrs = {"stride": tuple(stride), "dilation": tuple(dilation), "padding": padding,
             "activation": activation}
    return _conv_like("CONV_2D", x_shape, weights, bias, in_q, w_scales, out_q,
                      weights.shape[0], attrs)


def depthwise_conv2d_graph(x_shape, weights: np.ndarray, bias: np.ndarray | None,
                           in_q: Quant, w_scales, out_q: Quant, *, depth_multiplier: int,
                           stride=(1, 1), dilation=(1, 1), padding: str = "SAME",
                           activation: str = "NONE") -> Graph:
    """DEPTHWISE_CONV_2D; ``weights`` [1, kh, kw, in_c * depth_multiplier]."""
    attrs = {"stride": tuple(stride), "dilation": tuple(dilation), "padding": padding,
             "activation": activation, "depth_multiplier": depth_multiplier}
    return _conv_like("DEPTHWISE_CONV_2D", x_shape, weights, bias, in_q, w_scales, out_q,
                      weights.shape[3], attrs)


def fully_connected_graph(x_shape, weights: np.ndarray, bias: np.ndarray | None,
                          in_q: Quant, w_scales, out_q: Quant,
                          activation: str = "NONE") -> Graph:
    """FULLY_CONNECTED; ``weights`` [out, in]; output [rows, out]."""
    rows = int(np.prod(x_shape)) // weights.shape[1]
    out = weights.shape[0]
    tensors = [_activation("x", x_shape, in_q), _weights("w", weights, w_scales, 0),
               _activation("y", (rows, out), out_q)]
    b = _bias(bias, in_q[0], w_scales, out)
    if b is not None:
        tensors.append(b)
    return _graph("FULLY_CONNECTED", tensors, ["x", "w", "bias" if b is not None else ""],
                  {"activation": activation})


def pool_graph(op: str, x_shape, quant: Quant, *, filter_hw, stride, padding: str,
               activation: str = "NONE") -> Graph:
    """AVERAGE_POOL_2D or MAX_POOL_2D (input and output share ``quant``)."""
    oh = conv_output_size(x_shape[1], filter_hw[0], stride[0], 1, padding)
    ow = conv_output_size(x_shape[2], filter_hw[1], stride[1], 1, padding)
    tensors = [_activation("x", x_shape, quant),
               _activation("y", (x_shape[0], oh, ow, x_shape[3]), quant)]
    return _graph(op, tensors, ["x"], {"filter": tuple(filter_hw), "stride": tuple(stride),
                                       "padding": padding, "activation": activation})


def add_graph(shape, q1: Quant, q2: Quant, out_q: Quant, activation: str = "NONE") -> Graph:
    tensors = [_activation("x", shape, q1), _activation("x2", shape, q2),
               _activation("y", shape, out_q)]
    return _graph("ADD", tensors, ["x", "x2"], {"activation": activation})


def softmax_graph(shape, in_q: Quant, beta: float = 1.0) -> Graph:
    tensors = [_activation("x", shape, in_q), _activation("y", shape, (1 / 256, -128))]
    return _graph("SOFTMAX", tensors, ["x"], {"beta": beta})


def quantize_graph(shape, out_q: Quant) -> Graph:
    """QUANTIZE float32 -> int8."""
    tensors = [_activation("x", shape, None, "float32"), _activation("y", shape, out_q)]
    return _graph("QUANTIZE", tensors, ["x"], {})


def dequantize_graph(shape, in_q: Quant) -> Graph:
    """DEQUANTIZE int8 -> float32."""
    tensors = [_activation("x", shape, in_q), _activation("y", shape, None, "float32")]
    return _graph("DEQUANTIZE", tensors, ["x"], {})


def int8_batch(rng: np.random.Generator, shape, samples: int = 3) -> np.ndarray:
    """[samples + 2, *shape] int8: random samples, then all -128 and all 127 (saturation)."""
    random = rng.integers(-128, 128, size=(samples, *shape))
    extremes = np.stack([np.full(shape, -128), np.full(shape, 127)])
    return np.concatenate([random, extremes]).astype(np.int8)


def assert_matches_tflm(graph: Graph, *batches: np.ndarray) -> None:
    """The reference's output bytes equal TFLM's for every sample of the batch(es)."""
    expected = run_tflm(write_tflite(graph), list(batches))[0]
    for index in range(len(batches[0])):
        got = run(graph, [batch[index] for batch in batches])[0]
        want = expected[index]
        if not (got.dtype == want.dtype and got.shape == want.shape
                and got.tobytes() == want.tobytes()):
            assert got.shape == want.shape, f"shape {got.shape} != TFLM's {want.shape}"
            differ = got != want
            raise AssertionError(
                f"{graph.nodes[0].op}: sample {index}: {int(differ.sum())} of {want.size} "
                f"values differ from TFLM, first at {np.argwhere(differ)[0].tolist()}: "
                f"reference {got[differ][0]} vs TFLM {want[differ][0]}")


def reduce_graph(op: str, x_shape, axis, keep_dims: bool, in_q: Quant,
                 out_q: Quant) -> Graph:
    """MEAN, SUM or REDUCE_MAX over ``axis`` (sorted distinct dims)."""
    from edgekd.shapes import reduced_shape

    out_shape = reduced_shape(tuple(x_shape), tuple(axis), keep_dims)
    tensors = [_activation("x", x_shape, in_q), _activation("y", out_shape, out_q)]
    return _graph(op, tensors, ["x"], {"axis": tuple(axis), "keep_dims": keep_dims})


def arg_graph(op: str, x_shape, axis: int, in_q: Quant) -> Graph:
    """ARG_MAX or ARG_MIN along ``axis``; int32 output."""
    out_shape = tuple(n for d, n in enumerate(x_shape) if d != axis)
    tensors = [_activation("x", x_shape, in_q), _activation("y", out_shape, None, "int32")]
    return _graph(op, tensors, ["x"], {"axis": axis})


def unary_graph(op: str, shape, in_q: Quant, out_q: Quant, **attrs) -> Graph:
    """An int8 -> int8 elementwise op (activations, REQUANTIZE)."""
    tensors = [_activation("x", shape, in_q), _activation("y", shape, out_q)]
    return _graph(op, tensors, ["x"], attrs)


def binary_graph(op: str, shape1, shape2, q1: Quant, q2: Quant, out_q: Quant,
                 **attrs) -> Graph:
    """MUL, SUB, MINIMUM or MAXIMUM of "x" and "x2", broadcast as numpy."""
    from edgekd.shapes import broadcast_shape

    tensors = [_activation("x", shape1, q1), _activation("x2", shape2, q2),
               _activation("y", broadcast_shape(tuple(shape1), tuple(shape2)), out_q)]
    return _graph(op, tensors, ["x", "x2"], attrs)
