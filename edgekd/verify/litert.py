"""The oracle for graphs TFLM does not run (legacy all-uint8 graphs, TILE): LiteRT's
reference kernels (ai-edge-litert, a test extra, imported only here)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from edgekd.errors import EdgeKDError


def run_litert_outputs(model: str | os.PathLike, batches: Sequence[np.ndarray]
                       ) -> dict[str, np.ndarray]:
    """The model's outputs for each sample, keyed by IR tensor name: ``batches`` holds one
    ``[N, *shape]`` array per model input, in the file's input order."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgekd.frontends.tflite import tensor_names

    data = Path(model).read_bytes()
    names = tensor_names(data, str(model))
    try:
        interpreter = Interpreter(model_content=data,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as error:
        raise EdgeKDError(f"{model}: LiteRT cannot run the model: {error}") from None
    ins, outs = interpreter.get_input_details(), interpreter.get_output_details()
    results: dict[str, list[np.ndarray]] = {names[d["index"]]: [] for d in outs}
    for n in range(len(batches[0])):
        for detail, batch in zip(ins, batches):
            interpreter.set_tensor(detail["index"], np.ascontiguousarray(batch[n]))
        interpreter.invoke()
        for detail in outs:
            results[names[detail["index"]]].append(interpreter.get_tensor(detail["index"]).copy())
    return {name: np.stack(values) for name, values in results.items()}
