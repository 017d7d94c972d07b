"""Run an IR graph through the numpy reference kernels: the executable spec of edgekd.

Each node's integer parameters are prepared once per graph object (as TFLM's Prepare, or
as the code generator does offline) and cached; later calls only evaluate. A graph that is
changed in place after its first run keeps its old parameters: run a copy instead.
"""
from __future__ import annotations

import weakref
from typing import Any, Mapping, Sequence

import numpy as np

from edgekd.errors import EdgeKDError
from edgekd.ir import Graph, Node
from edgekd.registry import OpSpec, op_spec

_Plan = list[tuple[Node, OpSpec, Any]]
_PLANS: dict[int, tuple[weakref.ref, _Plan]] = {}


def _plan(graph: Graph) -> _Plan:
    """The graph's nodes with their specs and prepared parameters (cached per graph)."""
    key = id(graph)
    cached = _PLANS.get(key)
    if cached is not None and cached[0]() is graph:
        return cached[1]
    graph.validate()
    plan = []
    for node in graph.nodes:
        spec = op_spec(node.op)
        plan.append((node, spec, spec.prepare(graph, node) if spec.prepare else None))
    _PLANS[key] = (weakref.ref(graph, lambda _ref: _PLANS.pop(key, None)), plan)
    return plan


def _check_inputs(graph: Graph,
                  inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | np.ndarray
                  ) -> dict[str, np.ndarray]:
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    if isinstance(inputs, Mapping):
        unknown = sorted(set(inputs) - set(graph.inputs))
        if unknown:
            raise EdgeKDError(f"graph {graph.name!r}: {unknown} are not inputs; inputs are "
                              f"{graph.inputs}")
        missing = [name for name in graph.inputs if name not in inputs]
        if missing:
            raise EdgeKDError(f"graph {graph.name!r}: missing value for input(s) {missing}")
        arrays = [inputs[name] for name in graph.inputs]
    else:
        arrays = list(inputs)
        if len(arrays) != len(graph.inputs):
            raise EdgeKDError(f"graph {graph.name!r} has {len(graph.inputs)} input(s) "
                              f"{graph.inputs}, got {len(arrays)} array(s)")
    values = {}
    for index, (name, array) in enumerate(zip(graph.inputs, arrays)):
        tensor = graph.tensor(name)
        array = np.asarray(array)
        if array.dtype != np.dtype(tensor.dtype) or array.shape != tensor.shape:
            raise EdgeKDError(
                f"graph {graph.name!r}: input {index} ({name!r}) expects {tensor.dtype} "
                f"{tensor.shape}, got {array.dtype} {array.shape}")
        values[name] = array
    return values


def run_all(graph: Graph,
            inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | np.ndarray
            ) -> dict[str, np.ndarray]:
    """Every activation tensor (graph inputs included) by name, for per-layer debugging.

    ``inputs``: arrays in ``graph.inputs`` order, a mapping by input name, or one array
    for a single-input graph; dtypes and shapes must match the input tensors exactly.
    """
    plan = _plan(graph)
    values = _check_inputs(graph, inputs)
    for node, spec, op_params in plan:
        args = [None if not name else
                graph.tensors[name].data if graph.tensors[name].is_constant else values[name]
                for name in node.inputs]
        out = graph.tensor(node.outputs[0])
        values[out.name] = spec.evaluate(op_params, args, out.shape)
    return values


def run(graph: Graph,
        inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | np.ndarray
        ) -> list[np.ndarray]:
    """The graph's outputs, in ``graph.outputs`` order (see run_all for ``inputs``)."""
    values = run_all(graph, inputs)
    return [values[name] for name in graph.outputs]


# Ops whose reference kernels treat the leading axis (and every row of a fully connected
# layer) as independent samples, so that samples stacked along it compute exactly what
# each computes alone: several are then evaluated by one numpy call per node.
BATCHABLE_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
                           "DYNAMIC_FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                           "ADD", "SOFTMAX", "RESHAPE", "QUANTIZE", "DEQUANTIZE"})
BATCH_CHUNK = 32  # samples per numpy call: bounds the im2col patches' memory


def run_all_batch(graph: Graph, samples: np.ndarray | Sequence[np.ndarray]
                  ) -> dict[str, np.ndarray]:
    """``run_all`` over many samples: ``samples`` is [S, *input_shape] (a single-input
    graph) or a list of such batches, one per graph input; every activation tensor comes
    back as [S, *shape]. Samples of a single-input graph are stacked along the leading
    axis (BATCH_CHUNK at a time) where every op allows it (``BATCHABLE_OPS``, computed data
    operands only), else run one by one; either way the values are those of ``run_all``
    on each sample."""
    batches = ([np.asarray(b) for b in samples] if isinstance(samples, (list, tuple))
               else [np.asarray(samples)])
    if len(batches) != len(graph.inputs):
        raise EdgeKDError(f"graph {graph.name!r} has {len(graph.inputs)} inputs, got "
                          f"{len(batches)} batches")
    samples = batches[0]
    if len(batches) > 1 or not _batchable(graph):
        results = [run_all(graph, [b[n] for b in batches]) for n in range(len(samples))]
        return {name: np.stack([r[name] for r in results]) for name in results[0]} \
            if results else {}
    chunks = [_run_stacked(graph, samples[i:i + BATCH_CHUNK])
              for i in range(0, len(samples), BATCH_CHUNK)]
    return {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]} \
        if chunks else {}


def _batchable(graph: Graph) -> bool:
    for node in graph.nodes:
        if node.op not in BATCHABLE_OPS:
            return False
        if node.op == "ADD" and any(graph.tensor(n).is_constant for n in node.inputs if n):
            return False
        if any(len(graph.tensor(n).shape) == 0 for n in (*node.inputs[:1], *node.outputs)):
            return False
    return True


def _run_stacked(graph: Graph, samples: np.ndarray) -> dict[str, np.ndarray]:
    """One chunk of samples through the graph, stacked along each tensor's first axis."""
    plan = _plan(graph)
    count = len(samples)
    name = graph.inputs[0]
    _check_inputs(graph, [samples[0]])  # dtype and shape, as run_all checks them

    def stacked(shape: tuple[int, ...]) -> tuple[int, ...]:
        return (count * shape[0], *shape[1:])

    values = {name: samples.reshape(stacked(graph.tensor(name).shape))}
    for node, spec, op_params in plan:
        args = [None if not n else
                graph.tensors[n].data if graph.tensors[n].is_constant else values[n]
                for n in node.inputs]
        out = graph.tensor(node.outputs[0])
        values[out.name] = spec.evaluate(op_params, args, stacked(out.shape))
    return {n: v.reshape((count, *graph.tensor(n).shape)) for n, v in values.items()}
