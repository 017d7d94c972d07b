"""Dynamic (weight-only) quantization of Linear models, as torch's quantize_dynamic does it.

``quantize_dynamic(model, example_input)`` traces the model and turns every Linear (with
a fused ReLU or ReLU6) into a DYNAMIC_FULLY_CONNECTED node: int8 weights with one
symmetric scale per output channel (TFLite's hybrid scheme: ``scale = max|w| / 127``,
values rounded half away from zero into [-127, 127]), a float32 bias, float32 activations
that each layer quantizes per inference from their own range. No calibration data is
needed. The result is a float path for cores with an FPU; the int8 path is
``edgekd.quantize``.

Only chains of Linear (+ReLU/ReLU6) and flatten layers are accepted: flattening is
absorbed (a DYNAMIC_FULLY_CONNECTED reads any input shape as rows), anything else is
refused naming the layer.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
from torch import nn

from edgekd.errors import EdgeKDError, UnsupportedError
from edgekd.frontends.torch_fx import Layer, TracedModel, linear_weight_to_ir, trace
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.quant.model import as_tensor

# The kernel's bound on weight scales (ekd_dynamic_fully_connected_f32): 127 * 127.
MAX_ABS_WEIGHT = 127.0 * 127.0


def quantize_dynamic(model: nn.Module, example_input) -> Graph:
    """The DYNAMIC_FULLY_CONNECTED graph of ``model`` (float32 input and outputs, batch 1,
    NHWC for an image input), validated. ``example_input``: a batch (array or tensor) of
    the shape the model takes; only its shape matters. The model is not changed."""
    source = copy.deepcopy(model).float()
    example = as_tensor(example_input)[:2]
    return _graph(trace(source, example))


def quantize_weights(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 [out, in], float32 scales [out]) of float weights [out, in]: symmetric per
    output channel, ``scale = max|w| / 127`` (1 for an all-zero row)."""
    amax = np.abs(weight).max(axis=1)
    scales = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    # Divide by the float32 scale the graph stores, so the integers match it exactly.
    ratio = weight / scales.astype(np.float64)[:, None]
    whole = np.trunc(ratio)
    rounded = whole + np.where(np.abs(ratio - whole) >= 0.5, np.sign(ratio), 0.0)
    return np.clip(rounded, -127, 127).astype(np.int8), scales


def _graph(traced: TracedModel) -> Graph:
    tensors = {traced.input: Tensor(traced.input, traced.ir_shape(traced.input), "float32")}
    nodes: list[Node] = []
    source_of = {traced.input: traced.input}  # value -> the IR tensor holding its data
    for layer in traced.layers:
        if layer.kind == "flatten":
            source_of[layer.output] = source_of[layer.inputs[0]]
        elif layer.kind == "linear":
            nodes.append(_linear_node(traced, layer, source_of[layer.inputs[0]], tensors))
            source_of[layer.output] = layer.output
        else:
            raise UnsupportedError(
                f"{layer.location}: {layer.kind} layers are not supported by dynamic "
                "quantization, which takes chains of Linear (+ReLU/ReLU6) and flatten layers "
                "(edgekd.quantize makes int8 models with other layers)")
    if not nodes:
        raise UnsupportedError(f"{traced.name}: the model has no Linear layer to quantize")
    outputs = [source_of[value] for value in traced.outputs]
    return Graph(traced.name, tensors, nodes, [traced.input], outputs).validate()


def _linear_node(traced: TracedModel, layer: Layer, x: str, tensors: dict[str, Tensor]
                 ) -> Node:
    """The DYNAMIC_FULLY_CONNECTED node of one Linear; adds its tensors to ``tensors``."""
    linear: nn.Linear = layer.module
    with torch.no_grad():
        weight = linear.weight.detach().double().numpy()
        bias = None if linear.bias is None else linear.bias.detach().float().numpy()
    if not np.isfinite(weight).all() or (bias is not None and not np.isfinite(bias).all()):
        raise UnsupportedError(f"{layer.location}: Linear {layer.name!r} has NaN or infinite "
                               "parameters")
    largest = float(np.abs(weight).max())
    if largest > MAX_ABS_WEIGHT:
        raise UnsupportedError(f"{layer.location}: Linear {layer.name!r} has a weight of "
                               f"magnitude {largest:g}; dynamic quantization supports up to "
                               f"{MAX_ABS_WEIGHT:g} (a scale of at most 127)")
    q, scales = quantize_weights(linear_weight_to_ir(weight, layer.attrs["chw"]))
    w_name = f"{layer.name}.weight"
    tensors[w_name] = Tensor(w_name, q.shape, "int8",
                             QuantParams(scales, np.zeros(len(scales), dtype=np.int64), 0), q)
    b_name = ""
    if bias is not None:
        b_name = f"{layer.name}.bias"
        tensors[b_name] = Tensor(b_name, bias.shape, "float32", None, bias.astype(np.float32))
    tensors[layer.output] = Tensor(layer.output, traced.ir_shape(layer.output), "float32")
    return Node("DYNAMIC_FULLY_CONNECTED", layer.name, [x, w_name, b_name], [layer.output],
                {"activation": layer.activation})


def quantize_dynamic_to_file(model_spec: str, weights: str | None, data, output,
                             log: Callable[[str], None] | None = print) -> dict:
    """`edgekd quantize --method dynamic`: build the model (pkg.module:factory, weights from
    a state dict file), quantize it dynamically, report float and dynamic test accuracy
    (None without test labels) and write ``output`` as a .tflite whose hybrid
    FULLY_CONNECTED layers quantize their inputs asymmetrically. Returns the accuracies,
    the graph and the path."""
    from edgekd.data import Dataset, load_dataset
    from edgekd.zoo import load_module  # factory + weights_only state dict
    from edgekd.quant.evaluate import int8_accuracy, torch_accuracy
    from edgekd.frontends import save_model

    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    example = next((s.x[:2] for s in (dataset.train, dataset.test) if len(s)), None)
    if example is None:
        raise EdgeKDError(f"{dataset.name}: no samples to take the input shape from")
    model = load_module(model_spec, weights, role="model").eval()
    graph = quantize_dynamic(model, example)
    test = dataset.test if dataset.test.y is not None and len(dataset.test) else None
    float_accuracy = torch_accuracy(model, test.x, test.y) if test else None
    dynamic_accuracy = int8_accuracy(graph, test.x, test.y) if test else None
    path = save_model(graph, output)
    if log is not None:
        if test:
            log(f"test accuracy ({len(test)} samples): float {float_accuracy:.2%}, dynamic "
                f"{dynamic_accuracy:.2%} (int8 weights, float32 activations)")
        log(f"wrote {path} ({path.stat().st_size} bytes)")
    return {"method": "dynamic", "float_accuracy": float_accuracy,
            "dynamic_accuracy": dynamic_accuracy, "graph": graph, "path": path}
