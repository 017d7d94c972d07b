"""The torch front end's arithmetic and activation layers (mul, sub, add with broadcasting,
mean, Sigmoid, Tanh, Hardswish, Hardsigmoid, LeakyReLU): traced, quantized (PTQ and QAT),
converted; the int8 graph's C and TFLM bit-exact on the host, and the QuantModel's codes
equal the graph's."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgekd.frontends.tflite import save_tflite
from edgekd.quant import convert, prepare_qat, quantize, train_qat
from edgekd.quant.model import build_quant_model
from edgekd.quant.ptq import calibrate
from edgekd.interpreter import run_all
from edgekd.verify.host import verify_host


class SqueezeExcite(nn.Module):
    """Conv, squeeze-excite (mean, 1x1 convs, sigmoid, mul), hard-swish, leaky ReLU,
    hard-sigmoid, tanh."""

    def __init__(self, channels: int = 8, in_channels: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.reduce = nn.Conv2d(channels, 4, 1)
        self.expand = nn.Conv2d(4, channels, 1)
        self.act = nn.Hardswish()
        self.leaky = nn.LeakyReLU(0.1)
        self.hard_sigmoid = nn.Hardsigmoid()
        self.fc = nn.Linear(channels, 5)

    def forward(self, x):
        y = self.act(self.conv(x))
        s = x.mean((2, 3), keepdim=True).mean(1, keepdim=True)  # [N, 1, 1, 1]
        gate = torch.sigmoid(self.expand(F.relu(self.reduce(y.mean((2, 3), keepdim=True)))))
        y = self.leaky(y * gate - s)
        y = y * self.hard_sigmoid(y) + s  # a broadcast add
        y = torch.tanh(y).mean((2, 3))
        return self.fc(y)


def _data(n: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 6, 6, generator=torch.Generator().manual_seed(seed))


def _codes_match(model, graph, x: torch.Tensor) -> None:
    """The QuantModel's int8 output codes equal the graph's reference for every sample."""
    values = model.forward_values(x)
    out = values[model.traced.outputs[0]].q.numpy()
    for i in range(len(x)):
        q = model.input_quant(x[i:i + 1], "quant").q.numpy().astype(np.int8)
        ref = run_all(graph, q.transpose(0, 2, 3, 1))[graph.outputs[0]]
        assert np.array_equal(ref, out[i:i + 1].astype(np.int8))


@pytest.mark.slow
def test_ptq_squeeze_excite_is_bit_exact_in_c_and_tflm_and_matches_the_quant_model(tmp_path):
    torch.manual_seed(0)
    model = SqueezeExcite().eval()
    graph = quantize(model, _data(), "minmax")
    assert {"MEAN", "MUL", "SUB", "ADD", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU"} <= \
        {n.op for n in graph.nodes}
    quant_model = calibrate(build_quant_model(model, _data(8)), _data(), "minmax")
    _codes_match(quant_model, convert(quant_model), _data(8, seed=1))
    # Written as .tflite, TFLM computes every tensor the C and the reference compute.
    result = verify_host(save_tflite(graph, tmp_path / "se.tflite"), inputs=20, seed=2)
    assert result.bit_exact and any(c.startswith("tflm") for c in result.compared), result


@pytest.mark.slow
def test_qat_squeeze_excite_converts_to_what_it_computes():
    torch.manual_seed(1)
    x, labels = _data(), torch.randint(0, 5, (64,))
    qat = prepare_qat(SqueezeExcite(), x[:8], calib_data=x)
    train_qat(qat, x, labels, epochs=1, lr=1e-3)
    qat.eval()
    graph = convert(qat)
    _codes_match(qat, graph, _data(8, seed=3))
    assert verify_host(graph, inputs=10, seed=4).bit_exact


@pytest.mark.slow
def test_onnx_export_of_the_same_model_imports_to_the_same_ops(tmp_path):
    import warnings

    from edgekd.frontends.onnx import read_onnx

    from tests.frontends.onnx_models import export_torch

    torch.manual_seed(2)
    model = SqueezeExcite(in_channels=1).eval()
    path = export_torch(model, tmp_path / "se.onnx")
    calib = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(5)).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = read_onnx(path, calib=calib)
    torch_graph = quantize(model, calib, "minmax")
    assert [n.op for n in graph.nodes] == [n.op for n in torch_graph.nodes]
    assert verify_host(graph, inputs=10, seed=6).bit_exact
