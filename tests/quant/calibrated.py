"""A torch model calibrated on random data and converted, and the check that its int8
graph's reference computes exactly the quantized model's forward pass."""
from __future__ import annotations

import numpy as np
import torch

from edgekd.quant import calibrate, convert
from edgekd.quant.evaluate import dequantize_output, run_reference
from edgekd.quant.model import build_quant_model


def calibrated(model: torch.nn.Module, shape, seed: int = 0):
    """(quant_model, graph, x): minmax over 32 random samples of ``shape`` (C, H, W)."""
    torch.manual_seed(seed)
    x = torch.randn(32, *shape)
    quant_model = calibrate(build_quant_model(model.eval(), x), x)
    return quant_model, convert(quant_model), x


def assert_graph_computes_the_forward(quant_model, graph, x) -> None:
    with torch.no_grad():
        simulated = quant_model(x).numpy()
    reference = dequantize_output(graph, run_reference(graph, x.numpy())[0])
    np.testing.assert_array_equal(reference.transpose(0, 3, 1, 2), simulated)
