"""edgekd/quant/ptq.py: calibration methods and the graphs `quantize` returns."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgekd.errors import EdgeKDError
from edgekd.frontends.tflite import write_tflite
from edgekd.quant import calibrate, quantize
from edgekd.quant.evaluate import dequantize_output, quantize_inputs, run_reference
from edgekd.quant.model import build_quant_model
from edgekd.verify.tflm import run_tflm


class Block(nn.Module):
    """Every op kind: conv+BN+ReLU6, depthwise, residual add, pools, flatten, FC, softmax."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 2 * 2, 5)

    def forward(self, x):
        x = F.relu6(self.bn(self.stem(x)))
        x = F.relu(x + self.dw(x))
        x = self.avg(self.pool(x))
        return torch.softmax(self.fc(torch.flatten(x, 1)), dim=1)


@pytest.fixture(scope="module")
def block_and_data():
    torch.manual_seed(0)
    model = Block().eval()
    x = torch.randn(64, 3, 8, 8)
    x[0, 0, 0, 0] = 40.0  # one outlier the clipping methods should ignore
    return model, x.numpy()


def test_graph_structure_and_parameters(block_and_data):
    model, x = block_and_data
    graph = quantize(model, x)
    assert [n.op for n in graph.nodes] == [
        "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE",
        "FULLY_CONNECTED", "SOFTMAX"]
    x_in, y_out = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    assert (x_in.dtype, x_in.shape) == ("int8", (1, 8, 8, 3))
    assert y_out.dtype == "int8" and y_out.quant.is_per_tensor(1 / 256, -128)
    conv = graph.nodes[0]
    w, b = graph.tensor(conv.inputs[1]), graph.tensor(conv.inputs[2])
    assert w.quant.axis == 0 and w.quant.scale.size == 8 and (w.quant.zero_point == 0).all()
    assert np.abs(w.data).max(axis=(1, 2, 3)).tolist() == [127] * 8  # scale = max|w| / 127
    in_scale = x_in.quant.scalar_scale
    np.testing.assert_allclose(b.quant.scale, in_scale * w.quant.scale, rtol=1e-6)
    assert b.dtype == "int32"
    dw = graph.nodes[1]
    assert graph.tensor(dw.inputs[1]).quant.axis == 3
    add = graph.nodes[2]
    assert len({graph.tensor(n).quant.scalar_scale for n in (*add.inputs, *add.outputs)}) == 3
    for pool in graph.nodes[3:5]:  # pooling and reshape keep their input's parameters
        assert graph.tensor(pool.outputs[0]).quant.same_as(graph.tensor(pool.inputs[0]).quant)
    assert graph.nodes[0].attrs["activation"] == "RELU6"
    assert add.attrs["activation"] == "RELU"


def test_input_range_comes_from_calibration_data(block_and_data):
    model, x = block_and_data
    q = quantize(model, x).tensor("x").quant
    low, high = (-128 - q.scalar_zero_point) * q.scalar_scale, (127 - q.scalar_zero_point) * \
        q.scalar_scale
    assert low <= x.min() + q.scalar_scale and high >= x.max() - q.scalar_scale


def test_clipping_methods_narrow_ranges(block_and_data):
    model, x = block_and_data
    spans = {}
    for method in ("minmax", "percentile", "mse"):
        quant_model = calibrate(build_quant_model(model, x), x, method)
        spans[method] = [r.span() for r in quant_model.ranges()]
    for method in ("percentile", "mse"):
        for (low, high), (mm_low, mm_high) in zip(spans[method], spans["minmax"]):
            assert mm_low <= low <= 0 <= high <= mm_high
    assert spans["percentile"][0][1] < 0.5 * spans["minmax"][0][1]  # the outlier is clipped


def test_float_boundary(block_and_data):
    model, x = block_and_data
    int8_graph = quantize(model, x)
    float_graph = quantize(model, x, float_io=True)
    assert float_graph.nodes[0].op == "QUANTIZE" and float_graph.nodes[-1].op == "DEQUANTIZE"
    assert float_graph.tensor(float_graph.inputs[0]).dtype == "float32"
    assert float_graph.tensor(float_graph.outputs[0]).dtype == "float32"
    codes = run_reference(int8_graph, x)[0]
    np.testing.assert_array_equal(run_reference(float_graph, x)[0],
                                  dequantize_output(int8_graph, codes))


def test_exported_model_runs_in_tflm_byte_identical(block_and_data):
    model, x = block_and_data
    graph = quantize(model, x, "mse")
    codes = quantize_inputs(graph, x)
    tflm = run_tflm(write_tflite(graph), codes[:, None])[0]
    reference = run_reference(graph, x)[0]
    np.testing.assert_array_equal(tflm.reshape(reference.shape), reference)


def test_model_passed_in_is_not_changed(block_and_data):
    model, x = block_and_data
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quantize(model, x)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()


def test_bad_method_and_empty_data(block_and_data):
    model, x = block_and_data
    with pytest.raises(EdgeKDError, match="unknown calibration method 'kl'"):
        quantize(model, x, "kl")
    with pytest.raises(EdgeKDError, match="no calibration data"):
        calibrate(build_quant_model(model, x), x[:0])
