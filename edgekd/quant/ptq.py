"""Post-training quantization: calibrate activation ranges on data, then convert.

Weights are quantized per output channel, symmetric (scale max|w| / 127), whatever the
method; the method picks each activation tensor's range:

- ``minmax``: the observed minimum and maximum;
- ``percentile``: each tail clipped to the 99.99th percentile of the values;
- ``mse``: the shrink of the observed range whose int8 grid has the least squared error.
"""
from __future__ import annotations

import torch
from torch import nn

from edgekd.errors import EdgeKDError
from edgekd.ir import Graph
from edgekd.quant.convert import convert
from edgekd.quant.model import QuantModel, as_tensor, batches, build_quant_model
from edgekd.quant.observers import METHODS

CALIBRATION_BATCH = 256


def calibrate(model: QuantModel, data, method: str = "minmax",
              batch_size: int = CALIBRATION_BATCH) -> QuantModel:
    """Set every activation range of ``model`` from ``data`` (inputs, NCHW float) and leave
    the model in quant mode and eval mode (ranges fixed)."""
    if method not in METHODS:
        raise EdgeKDError(f"unknown calibration method {method!r}; use one of "
                          f"{', '.join(METHODS)}")
    x = as_tensor(data)
    if len(x) == 0:
        raise EdgeKDError("no calibration data")
    for r in model.ranges():
        r.initialized.fill_(False)
    device = model.device
    with torch.no_grad():
        model.set_mode("observe")
        for batch in batches(x, batch_size):
            model(batch.to(device))
        if method != "minmax":
            _histogram_pass(model, x, batch_size, method)
    return model.set_mode("quant").eval()


def _histogram_pass(model: QuantModel, x: torch.Tensor, batch_size: int, method: str) -> None:
    """Fill each range's histogram over its observed span, then let ``method`` clip it."""
    ranges = model.ranges()
    for r in ranges:
        r.start_histogram()
    device = model.device
    for batch in batches(x, batch_size):
        model(batch.to(device))  # observe mode: each range adds the batch to its histogram
    for r in ranges:
        r.finish_histogram(method)


def quantize(model: nn.Module, calib_data, method: str = "minmax", *,
             float_io: bool = False) -> Graph:
    """Quantize a float torch model to an int8 ir.Graph by post-training calibration.

    ``calib_data``: representative inputs (array or tensor, N x C x H x W, float).
    ``method``: "minmax", "percentile" or "mse" (activation ranges; see module doc).
    ``float_io``: give the graph a float32 input and outputs (QUANTIZE/DEQUANTIZE at the
    boundary) instead of int8 ones.
    """
    quant_model = build_quant_model(model, calib_data)
    calibrate(quant_model, calib_data, method)
    return convert(quant_model, float_io=float_io)
