"""How much each int8 layer loses against the same layer computed in float.

Each layer is fed the real values of its int8 inputs (as the integer reference computed
them) and computed twice: in int8 by the reference, and in float64 with the dequantized
weights and bias, the same padding, strides and the real clamp of its fused activation.
The difference is that layer's own quantization error (requantizing the accumulator to
the output's scale, rounding, saturation), not the error it inherits from earlier layers:
the layer with the lowest SQNR is where the accuracy goes. A second figure follows a float
shadow of the whole graph from the input on (each op on the shadow's own float values), so
its SQNR is the error accumulated up to that op. The weights are the int8 model's, so the
rounding of the weights themselves is not part of either figure (that needs the float
source model).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekd.ir import Graph, Node, QuantParams
from edgekd.interpreter import run_all
from edgekd.registry import op_spec
from edgekd.reference.windows import window_patches


@dataclass(frozen=True)
class LayerError:
    node: int  # index in graph.nodes
    op: str
    output: str
    mse: float  # of the real values
    sqnr_db: float | None  # 10 log10(signal power / error power); None: no error at all
    cosine: float | None  # None: a zero vector on either side
    accumulated_sqnr_db: float | None  # against the float shadow of the graph up to here


def layer_errors(graph: Graph, samples: np.ndarray) -> list[LayerError]:
    """The error of every node with a quantized output whose op has a float form, over
    ``samples`` ([N, *input_shape] for a one-input graph)."""
    plan = [(node, spec, spec.prepare(graph, node) if spec.prepare else None)
            for node, spec in ((node, op_spec(node.op)) for node in graph.nodes)]
    floats: dict[int, list[np.ndarray]] = {}
    shadows: dict[int, list[np.ndarray]] = {}
    ints: dict[int, list[np.ndarray]] = {}
    for sample in samples:
        values = run_all(graph, [sample])
        shadow = {name: _real(graph, name, values) for name in graph.inputs}
        for index, (node, _spec, params) in enumerate(plan):
            out = graph.tensor(node.outputs[0])
            compute = _FLOAT_OPS.get(node.op)
            if compute is None:  # no float form: the shadow picks up the int8 values
                shadow[out.name] = _real(graph, out.name, values)
                continue
            own = compute(graph, node, params, [None if not name else _real(graph, name, values)
                                                for name in node.inputs], out.shape)
            shadow[out.name] = compute(graph, node, params, [
                None if not name else shadow[name] if name in shadow
                else _real(graph, name, values) for name in node.inputs], out.shape)
            if out.quant is None:
                continue
            floats.setdefault(index, []).append(own.reshape(-1))
            shadows.setdefault(index, []).append(shadow[out.name].reshape(-1))
            ints.setdefault(index, []).append(dequantize(values[out.name], out.quant).reshape(-1))
    return [_measure(index, graph.nodes[index], np.concatenate(floats[index]),
                     np.concatenate(shadows[index]), np.concatenate(ints[index]))
            for index in sorted(floats)]


def dataset_inputs(graph: Graph, spec: str, limit: int = 100) -> np.ndarray:
    """Up to ``limit`` samples of a dataset (``digits``, a .npz, ``pkg.module:function``;
    its test split, else its training split) as the graph's input: channels moved last
    when the data is laid out N x C x H x W, quantized as the model's QUANTIZE would."""
    from edgekd.data import load_dataset
    from edgekd.errors import EdgeKDError
    from edgekd.reference.params import QuantizeParams
    from edgekd.reference.quantize import quantize

    data = load_dataset(spec)
    x = (data.test if len(data.test) else data.train).x[:limit]
    tensor = graph.tensor(graph.inputs[0])
    shape = tuple(tensor.shape[1:])
    if x.ndim == 4 and x.shape[1:] != shape and (x.shape[2], x.shape[3], x.shape[1]) == shape:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    if x.shape[1:] != shape:
        raise EdgeKDError(f"{spec}: samples of shape {list(x.shape[1:])} do not fit the "
                          f"model's input {list(tensor.shape)}")
    x = x.reshape(len(x), *tensor.shape)
    if tensor.dtype != "int8" or tensor.quant is None:
        return x.astype(tensor.dtype)
    q = tensor.quant
    return quantize(QuantizeParams(float(q.scale[0]), int(q.zero_point[0])), x)


def _measure(index: int, node: Node, reference: np.ndarray, shadow: np.ndarray,
             got: np.ndarray) -> LayerError:
    noise = float(np.mean((got - reference) ** 2))
    norms = float(np.linalg.norm(reference) * np.linalg.norm(got))
    return LayerError(
        node=index, op=node.op, output=node.outputs[0], mse=noise,
        sqnr_db=_sqnr(reference, got),
        cosine=None if norms == 0 else float(np.dot(reference, got) / norms),
        accumulated_sqnr_db=_sqnr(shadow, got))


def _sqnr(reference: np.ndarray, got: np.ndarray) -> float | None:
    """10 log10(signal power / error power) in dB; None when there is no error at all."""
    noise, signal = float(np.mean((got - reference) ** 2)), float(np.mean(reference ** 2))
    return None if noise == 0 else float(10 * np.log10(max(signal, 1e-300) / noise))


def dequantize(values: np.ndarray, quant: QuantParams) -> np.ndarray:
    """Real values of quantized ``values`` (per tensor or per channel along quant.axis)."""
    shape = [1] * values.ndim
    if quant.axis is not None:
        shape[quant.axis] = -1
    scale = np.asarray(quant.scale, np.float64).reshape(shape)
    zero_point = np.asarray(quant.zero_point, np.float64).reshape(shape)
    return (values.astype(np.float64) - zero_point) * scale


def _real(graph: Graph, name: str, values: dict[str, np.ndarray]) -> np.ndarray:
    tensor = graph.tensor(name)
    raw = tensor.data if tensor.is_constant else values[name]
    return raw.astype(np.float64) if tensor.quant is None else dequantize(raw, tensor.quant)


def _clamp(graph: Graph, node: Node, params, y: np.ndarray) -> np.ndarray:
    """The fused activation as the int8 layer applies it, in real values."""
    q = graph.tensor(node.outputs[0]).quant
    low = (params.activation_min - q.zero_point[0]) * q.scale[0]
    high = (params.activation_max - q.zero_point[0]) * q.scale[0]
    return np.clip(y, low, high)


def _conv(graph, node, p, inputs, out_shape):
    x, w, bias = (inputs + [None])[:3]
    n, oh, ow, out_c = out_shape
    patches = window_patches(x, (w.shape[1], w.shape[2]), (oh, ow), (p.stride_h, p.stride_w),
                             (p.dilation_h, p.dilation_w), (p.pad_h, p.pad_w), fill=0.0)
    if node.op == "DEPTHWISE_CONV_2D":
        source = np.arange(out_c) // p.depth_multiplier
        y = np.einsum("nyxijc,ijc->nyxc", patches[..., source], w[0])
    else:
        y = (patches.reshape(n * oh * ow, -1) @ w.reshape(out_c, -1).T).reshape(out_shape)
    return _clamp(graph, node, p, y if bias is None else y + bias)


def _fully_connected(graph, node, p, inputs, out_shape):
    x, w, bias = (inputs + [None])[:3]
    y = x.reshape(-1, w.shape[1]) @ w.T
    return _clamp(graph, node, p, (y if bias is None else y + bias).reshape(out_shape))


def _pool(graph, node, p, inputs, out_shape):
    x = inputs[0]
    args = ((p.filter_h, p.filter_w), out_shape[1:3], (p.stride_h, p.stride_w), (1, 1),
            (p.pad_h, p.pad_w))
    if node.op == "MAX_POOL_2D":
        y = window_patches(x, *args, fill=-np.inf).max(axis=(3, 4))
    else:
        inside = window_patches(np.ones((1, *x.shape[1:3], 1)), *args, fill=0.0)
        y = window_patches(x, *args, fill=0.0).sum(axis=(3, 4)) / inside.sum(axis=(3, 4))
    return _clamp(graph, node, p, y)


def _add(graph, node, p, inputs, out_shape):
    return _clamp(graph, node, p, (inputs[0] + inputs[1]).reshape(out_shape))


def _softmax(graph, node, p, inputs, out_shape):
    z = inputs[0] * float(node.attrs.get("beta", 1.0))
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).reshape(out_shape)


def _same(graph, node, p, inputs, out_shape):
    return inputs[0].reshape(out_shape)


_FLOAT_OPS = {
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _conv, "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool, "ADD": _add, "SOFTMAX": _softmax,
    "RESHAPE": _same, "QUANTIZE": _same, "DEQUANTIZE": _same,
}
