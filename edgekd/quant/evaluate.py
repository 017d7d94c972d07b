"""Accuracy of a float torch model and of an int8 graph (run by the numpy reference).

Inputs are given as torch takes them (N x C x H x W float); the graph side moves them to
NHWC and quantizes them with the graph input's parameters, as TFLite's QUANTIZE does.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from edgekd.errors import EdgeKDError
from edgekd.frontends.torch_fx import to_nhwc
from edgekd.ir import Graph
from edgekd.quant.fake import quantize_activation
from edgekd.quant.model import as_tensor, batches

EVAL_BATCH = 256


def quantize_inputs(graph: Graph, x) -> np.ndarray:
    """Model inputs (NCHW float) as the graph's input tensor takes them: NHWC, int8 codes
    (or float32 for a graph with a float boundary)."""
    tensor = graph.tensor(graph.inputs[0])
    nhwc = to_nhwc(as_tensor(x).numpy())
    if tensor.dtype == "float32":
        return nhwc
    q = tensor.quant
    codes = quantize_activation(torch.from_numpy(nhwc), q.scalar_scale, q.scalar_zero_point)
    return codes.numpy().astype(np.int8)


def with_batch(graph: Graph, batch: int) -> Graph:
    """A copy of a batch-1 graph whose activations hold ``batch`` samples (the reference
    kernels loop over the batch, so one run evaluates many samples)."""
    tensors = {}
    for name, t in graph.tensors.items():
        if not t.is_constant:
            if t.shape[0] != 1:
                raise EdgeKDError(f"graph {graph.name!r}: activation {name!r} has batch "
                                  f"{t.shape[0]}, expected 1")
            t = dataclasses.replace(t, shape=(batch, *t.shape[1:]))
        tensors[name] = t
    return dataclasses.replace(graph, tensors=tensors)


def run_reference(graph: Graph, x, batch_size: int = EVAL_BATCH) -> list[np.ndarray]:
    """The graph's outputs (raw: int8 codes, or float32) for inputs ``x`` (NCHW float),
    one array per output with the samples stacked on axis 0."""
    from edgekd.interpreter import run

    inputs = quantize_inputs(graph, x)
    results: list[list[np.ndarray]] = [[] for _ in graph.outputs]
    batched: dict[int, Graph] = {}
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start:start + batch_size]
        if len(chunk) not in batched:
            batched[len(chunk)] = with_batch(graph, len(chunk))
        for result, out in zip(results, run(batched[len(chunk)], [chunk])):
            result.append(out)
    return [np.concatenate(r) for r in results]


def dequantize_output(graph: Graph, values: np.ndarray, index: int = 0) -> np.ndarray:
    """Real values of a graph output (float32 outputs pass through)."""
    tensor = graph.tensor(graph.outputs[index])
    if tensor.dtype == "float32":
        return values
    q = tensor.quant
    return (values.astype(np.float32) - q.scalar_zero_point) * np.float32(q.scalar_scale)


def int8_accuracy(graph: Graph, x, labels) -> float:
    """Fraction of samples whose first output's argmax is the label, run by the reference."""
    scores = run_reference(graph, x)[0]
    return float((scores.reshape(len(scores), -1).argmax(axis=1) == np.asarray(labels)).mean())


def torch_accuracy(model: nn.Module, x, labels, batch_size: int = EVAL_BATCH) -> float:
    """Fraction of samples a torch model (or a QuantModel) classifies right, in eval mode."""
    was_training = model.training
    model.eval()
    parameter = next(model.parameters(), None)  # quantized torch models may have none
    device = parameter.device if parameter is not None else torch.device("cpu")
    predictions = []
    with torch.no_grad():
        for batch in batches(as_tensor(x), batch_size):
            out = model(batch.to(device))
            out = out[0] if isinstance(out, tuple) else out
            predictions.append(out.reshape(len(batch), -1).argmax(dim=1).cpu())
    model.train(was_training)
    return float((torch.cat(predictions).numpy() == np.asarray(labels)).mean())
