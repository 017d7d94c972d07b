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
