"""edgekd/quant/convert.py: the IR a QuantModel becomes, including degenerate ranges."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgekd.errors import EdgeKDError
from edgekd.quant import calibrate, convert
from edgekd.quant.evaluate import dequantize_output, run_reference
from edgekd.quant.model import build_quant_model
from edgekd.reference.params import prepare_conv


class DeadLayer(nn.Module):
    """The middle conv outputs zeros for every calibration input (a constant range)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 4, 3, padding=1)
        self.dead = nn.Conv2d(4, 4, 1)
        self.relu = nn.ReLU()
        self.b = nn.Conv2d(4, 3, 1)
        with torch.no_grad():
            self.dead.bias.fill_(-100.0)

    def forward(self, x):
        y = self.relu(self.dead(self.a(x)))
        return self.b(y) + self.b(y)


def test_constant_ranges_keep_requantization_from_shifting_left():
    torch.manual_seed(0)
    model = DeadLayer().eval()
    x = torch.randn(16, 2, 5, 5)
    quant_model = calibrate(build_quant_model(model, x), x)
    graph = convert(quant_model)
    for node in graph.nodes:
        if node.op == "CONV_2D":
            assert prepare_conv(graph, node).shift.max() <= 1
    with torch.no_grad():
        simulated = quant_model(x).numpy()
    reference = dequantize_output(graph, run_reference(graph, x.numpy())[0])
    np.testing.assert_array_equal(reference.transpose(0, 3, 1, 2), simulated)


def test_names_come_from_the_module_paths():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    x = torch.randn(8, 1, 6, 6)
    graph = convert(calibrate(build_quant_model(model, x), x))
    assert [n.name for n in graph.nodes] == ["0", "2", "3"]
    assert graph.nodes[0].inputs[1:] == ["0.weight", "0.bias"]


def test_refuses_what_it_cannot_convert():
    with pytest.raises(EdgeKDError, match="expects a model from edgekd.prepare_qat"):
        convert(nn.Linear(2, 2))
    model = nn.Sequential(nn.Linear(4, 2))
    quant_model = build_quant_model(model, torch.randn(2, 4))
    with pytest.raises(EdgeKDError, match="Sequential: input 'input_1': an activation range "
                                          "was never calibrated"):
        convert(quant_model)
    quant_model.input_quant.range.observe(torch.randn(2, 4))
    with pytest.raises(EdgeKDError, match=r"Sequential: module '0' \(Linear\): an "
                                          "activation range was never calibrated"):
        convert(quant_model)
