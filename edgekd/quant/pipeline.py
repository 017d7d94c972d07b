"""`edgekd quantize` as a library call: load a torch model and data, quantize, report, save.

PTQ calibrates on the training split; QAT fine-tunes on it (labels required), starting
from a min-max calibration. Accuracies are measured on the test split: the float model in
torch, the int8 model in edgekd's numpy integer reference (what the C code computes).
"""
from __future__ import annotations

import os
from typing import Callable

from edgekd.data import Dataset, load_dataset
from edgekd.errors import EdgeKDError
from edgekd.frontends import save_model
from edgekd.ir import Graph
from edgekd.quant.convert import convert
from edgekd.quant.evaluate import int8_accuracy, torch_accuracy
from edgekd.quant.observers import METHODS
from edgekd.quant.ptq import quantize
from edgekd.quant.qat import prepare_qat, train_qat

CLI_METHODS = (*METHODS, "qat")


def quantize_to_file(model_spec: str, weights: str | None, data: str | Dataset, method: str,
                     output: str | os.PathLike, *, epochs: int = 3, lr: float = 1e-4,
                     float_io: bool = False,
                     log: Callable[[str], None] | None = print) -> dict:
    """Quantize the model built by ``model_spec`` (pkg.module:factory, weights from a state
    dict file) and write it to ``output`` (.tflite). Returns the accuracies (None without
    test labels) and the graph."""
    from edgekd.zoo import check_inputs_fit, load_module  # factory + weights_only

    if method not in CLI_METHODS:
        raise EdgeKDError(f"unknown method {method!r}; use one of {', '.join(CLI_METHODS)}")
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    if len(dataset.train) == 0:
        raise EdgeKDError(f"{dataset.name}: the training split (calibration data) is empty")
    model = load_module(model_spec, weights, role="model").eval()
    check_inputs_fit(model, dataset.train.x, dataset.name)
    test = dataset.test if dataset.test.y is not None and len(dataset.test) else None
    float_accuracy = torch_accuracy(model, test.x, test.y) if test else None
    if method == "qat":
        graph = _quantization_aware(model, dataset, epochs, lr, float_io, log)
    else:
        graph = quantize(model, dataset.train.x, method, float_io=float_io)
    int8 = int8_accuracy(graph, test.x, test.y) if test else None
    path = save_model(graph, output)
    if log is not None:
        if test:
            log(f"test accuracy ({len(test)} samples): float {float_accuracy:.2%}, "
                f"int8 {int8:.2%} ({method})")
        log(f"wrote {path} ({path.stat().st_size} bytes)")
    return {"method": method, "float_accuracy": float_accuracy, "int8_accuracy": int8,
            "graph": graph, "path": path}


def _quantization_aware(model, dataset: Dataset, epochs: int, lr: float, float_io: bool,
                        log: Callable[[str], None] | None) -> Graph:
    if dataset.train.y is None:
        raise EdgeKDError(f"{dataset.name}: quantization-aware training needs labels "
                          "(a .npz with 'y', or a dataset with labels)")
    qat_model = prepare_qat(model, dataset.train.x[:2], calib_data=dataset.train.x)
    val = (dataset.val.x, dataset.val.y) if dataset.val.y is not None and len(dataset.val) \
        else None
    train_qat(qat_model, dataset.train.x, dataset.train.y, epochs=epochs, lr=lr, val=val,
              progress=log)
    return convert(qat_model, float_io=float_io)
