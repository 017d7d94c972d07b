"""edgekd/frontends/torch_fx.py: tracing, fusion, layouts and refusals.

Each supported layer type is traced and checked three ways: the fused layers in float
(BatchNorm folded, activations fused) against the original module; the int8 graph run by
the numpy reference (NHWC, TFLite layouts and padding) against the same network simulated
in torch (NCHW, torch's padding) code for code; and the dequantized int8 output against
torch's float output within a few quantization steps.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgekd.errors import UnsupportedError
from edgekd.frontends.torch_fx import (
    conv_weight_to_ir,
    linear_weight_to_ir,
    to_nchw,
    to_nhwc,
    trace,
)
from edgekd.quant import calibrate, convert
from edgekd.quant.evaluate import dequantize_output, run_reference
from edgekd.quant.model import build_quant_model


def _randomize_batchnorm(model: nn.Module, generator: torch.Generator) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=generator) - 0.5)


def check_model(model: nn.Module, input_shape, kinds: list[str], steps: float = 4.0):
    """Trace, compare float and int8 paths as the module docstring says; return the graph."""
    generator = torch.Generator().manual_seed(0)
    _randomize_batchnorm(model, generator)
    model.eval()
    x = torch.rand((48, *input_shape), generator=generator) * 2 - 0.5
    quant_model = build_quant_model(model, x)
    assert [layer.kind for layer in quant_model.traced.layers] == kinds
    with torch.no_grad():
        expected = model(x)
        assert torch.allclose(quant_model.set_mode("float")(x), expected, atol=1e-5)
        calibrate(quant_model, x)
        simulated = quant_model(x).numpy()
    graph = convert(quant_model)
    int8 = dequantize_output(graph, run_reference(graph, x.numpy())[0])
    int8 = to_nchw(int8)  # a 4-D output comes back NHWC
    if graph.nodes[-1].op == "SOFTMAX":  # torch rounds a float softmax: one code apart at most
        assert np.abs(int8 - simulated).max() <= 1 / 256
    else:
        np.testing.assert_array_equal(int8, simulated)
    scale = graph.tensor(graph.outputs[0]).quant.scalar_scale
    assert np.abs(int8 - expected.numpy()).max() <= steps * scale
    return graph


class ConvNet(nn.Module):
    def __init__(self, cin=3, cout=8, k=3, stride=1, padding=1, dilation=1, groups=1,
                 bias=True, bn=False, act=None):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding, dilation, groups, bias=bias)
        self.bn = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.act = act or nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


@pytest.mark.parametrize("kwargs, shape", [
    (dict(), (3, 8, 8)),  # SAME
    (dict(padding=0), (3, 8, 8)),  # VALID
    (dict(stride=2, padding=1), (3, 9, 9)),  # SAME with stride 2 on an odd size
    (dict(stride=2, padding=0, k=2), (3, 8, 8)),
    (dict(dilation=2, padding=2), (3, 9, 7)),
    (dict(padding="same", k=(3, 5)), (3, 6, 7)),
    (dict(bias=False, bn=True, act=nn.ReLU()), (3, 8, 8)),
    (dict(bn=True, act=nn.ReLU6()), (3, 8, 8)),
    (dict(act=nn.Hardtanh(0.0, 6.0)), (3, 8, 8)),
], ids=["same", "valid", "stride2-odd", "k2s2", "dilated", "same-string", "bn-relu",
        "bn-relu6", "hardtanh"])
def test_conv(kwargs, shape):
    graph = check_model(ConvNet(**kwargs), shape, ["conv"])
    node = graph.nodes[0]
    assert node.op == "CONV_2D"
    act = kwargs.get("act")
    expected = {nn.ReLU: "RELU", nn.ReLU6: "RELU6", nn.Hardtanh: "RELU6"}.get(type(act), "NONE")
    assert node.attrs["activation"] == expected


@pytest.mark.parametrize("multiplier, stride", [(1, 1), (2, 1), (3, 2)])
def test_depthwise_conv(multiplier, stride):
    model = ConvNet(cin=4, cout=4 * multiplier, stride=stride, groups=4, bn=True,
                    act=nn.ReLU())
    graph = check_model(model, (4, 7, 7), ["conv"])
    node = graph.nodes[0]
    assert node.op == "DEPTHWISE_CONV_2D" and node.attrs["depth_multiplier"] == multiplier
    assert graph.tensor(node.inputs[1]).shape == (1, 3, 3, 4 * multiplier)


class FunctionalActivations(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 1)
        self.c = nn.Conv2d(4, 4, 1)
        self.d = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        x = F.relu(self.a(x))
        x = torch.relu(self.b(x))
        x = F.hardtanh(self.c(x), 0.0, 6.0)
        return self.d(x).relu()


def test_functional_activations_fuse():
    graph = check_model(FunctionalActivations(), (2, 6, 6), ["conv"] * 4)
    assert [n.attrs["activation"] for n in graph.nodes] == ["RELU", "RELU", "RELU6", "RELU"]


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 16)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(16, 5)

    def forward(self, x):
        return F.softmax(self.fc2(self.drop(F.relu(self.fc1(x)))), dim=-1)


def test_linear_dropout_and_functional_softmax():
    graph = check_model(MLP(), (12,), ["linear", "linear", "softmax"], steps=2.0)
    assert [n.op for n in graph.nodes] == ["FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"]
    out = graph.tensor(graph.outputs[0]).quant
    assert out.is_per_tensor(1 / 256, -128)


class Pools(nn.Module):
    def __init__(self, pool: nn.Module):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.pool = pool
        self.identity = nn.Identity()

    def forward(self, x):
        return self.identity(self.pool(self.conv(x)))


@pytest.mark.parametrize("pool, shape", [
    (nn.MaxPool2d(2), (3, 8, 8)),
    (nn.MaxPool2d(3, stride=2, padding=1), (3, 9, 9)),
    (nn.AvgPool2d(2), (3, 8, 8)),
    (nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), (3, 6, 5)),
    (nn.AdaptiveAvgPool2d(1), (3, 5, 7)),
    (nn.MaxPool2d(2, ceil_mode=True), (3, 5, 7)),
    (nn.AvgPool2d(2, ceil_mode=True), (3, 5, 7)),
], ids=["max", "max-same", "avg", "avg-same", "global", "max-ceil", "avg-ceil"])
def test_pooling_keeps_input_quantization(pool, shape):
    kind = "max_pool" if isinstance(pool, nn.MaxPool2d) else "avg_pool"
    graph = check_model(Pools(pool), shape, ["conv", kind])
    conv, pool_node = graph.nodes
    assert graph.tensor(pool_node.outputs[0]).quant.same_as(graph.tensor(conv.outputs[0]).quant)


class Residual(nn.Module):
    def __init__(self, style: str):
        super().__init__()
        self.style = style
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv2(F.relu(self.bn1(self.conv1(x))))
        if self.style == "plus":
            y = x + y
        elif self.style == "torch.add":
            y = torch.add(x, y)
        else:
            y = x.add(y)
        return F.relu(y)


@pytest.mark.parametrize("style", ["plus", "torch.add", "method"])
def test_residual_add(style):
    graph = check_model(Residual(style), (4, 6, 6), ["conv", "conv", "add"])
    add = graph.nodes[-1]
    assert add.op == "ADD" and add.attrs["activation"] == "RELU"
    params = [graph.tensor(n).quant for n in (*add.inputs, *add.outputs)]
    assert not params[0].same_as(params[2]) and not params[1].same_as(params[2])


class FlattenNet(nn.Module):
    def __init__(self, style: str):
        super().__init__()
        self.style = style
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(3 * 4 * 5, 7)

    def forward(self, x):
        x = F.relu(self.conv(x))
        if self.style == "module":
            x = self.flatten(x)
        elif self.style == "torch.flatten":
            x = torch.flatten(x, 1)
        elif self.style == "view":
            x = x.view(x.size(0), -1)
        else:
            x = x.reshape(x.shape[0], -1)
        return self.fc(x)


@pytest.mark.parametrize("style", ["module", "torch.flatten", "view", "reshape"])
def test_flatten_of_a_map_permutes_linear_weights(style):
    graph = check_model(FlattenNet(style), (2, 4, 5), ["conv", "flatten", "linear"])
    assert [n.op for n in graph.nodes] == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert graph.tensor(graph.nodes[1].outputs[0]).shape == (1, 60)


def test_linear_weight_permutation_matches_nchw_flatten():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 4, 2))  # NCHW
    weight = rng.standard_normal((7, 3 * 4 * 2))
    expected = x.reshape(5, -1) @ weight.T  # torch's flatten order
    permuted = linear_weight_to_ir(weight, (3, 4, 2))
    np.testing.assert_allclose(to_nhwc(x).reshape(5, -1) @ permuted.T, expected)
    np.testing.assert_array_equal(linear_weight_to_ir(weight, None), weight)


def test_conv_weight_layouts():
    w = np.arange(8 * 3 * 2 * 2).reshape(8, 3, 2, 2)
    ir = conv_weight_to_ir(w, depthwise=False)
    assert ir.shape == (8, 2, 2, 3) and ir[5, 1, 0, 2] == w[5, 2, 1, 0]
    dw = np.arange(6 * 1 * 3 * 3).reshape(6, 1, 3, 3)
    ir = conv_weight_to_ir(dw, depthwise=True)
    assert ir.shape == (1, 3, 3, 6) and ir[0, 2, 1, 4] == dw[4, 0, 2, 1]


def test_zoo_digits_cnn_traces():
    from edgekd.zoo import DigitsCNN

    check_model(DigitsCNN(width=4), (1, 8, 8),
                ["conv", "conv", "max_pool", "conv", "avg_pool", "flatten", "linear"])


def test_softmax_module():
    model = nn.Sequential(nn.Linear(6, 4), nn.Identity(), nn.Softmax(dim=1))
    check_model(model, (6,), ["linear", "softmax"], steps=2.0)


def test_tracing_does_not_update_batchnorm_statistics():
    model = ConvNet(bn=True).train()
    before = model.bn.running_mean.clone()
    trace(model, torch.randn(4, 3, 8, 8) + 3.0)
    assert torch.equal(model.bn.running_mean, before) and model.training


# --- refusals ------------------------------------------------------------------------------

def _line_of(text: str, function) -> int:
    source, start = inspect.getsourcelines(function)
    return start + next(i for i, line in enumerate(source) if text in line)


class WithGelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.gelu = nn.GELU()

    def forward(self, x):
        return self.gelu(self.conv(x))  # unsupported module


class WithExp(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        return torch.exp(self.conv(x))  # unsupported function


def test_unsupported_module_names_module_path_and_source_line():
    with pytest.raises(UnsupportedError) as info:
        trace(WithGelu(), torch.randn(1, 1, 5, 5))
    message = str(info.value)
    line = _line_of("unsupported module", WithGelu.forward)
    assert "module 'gelu' (GELU)" in message
    assert f"{__file__}:{line}" in message
    assert "supported: Conv2d" in message


def test_unsupported_function_names_node_and_source_line():
    with pytest.raises(UnsupportedError) as info:
        trace(WithExp(), torch.randn(1, 1, 5, 5))
    message = str(info.value)
    assert "node 'exp' (torch.exp)" in message
    assert f"{__file__}:{_line_of('unsupported function', WithExp.forward)}" in message


@pytest.mark.parametrize("model, shape, words", [
    (ConvNet(stride=2, padding=1), (3, 8, 8), "TFLite can only express"),
    (ConvNet(padding=2), (3, 8, 8), "TFLite can only express"),
    (ConvNet(cin=4, cout=4, groups=2), (4, 6, 6), "grouped convolution"),
    (nn.Sequential(nn.ReLU(), nn.Conv2d(1, 1, 1)), (1, 4, 4), "follows the model input"),
    (nn.Sequential(nn.Conv2d(1, 1, 1), nn.Flatten(), nn.Softmax(dim=1)), (1, 2, 2),
     "NHWC and NCHW flatten orders differ"),
    (nn.Sequential(nn.AvgPool2d(3, 1, 1)), (1, 4, 4), "count_include_pad=False"),
    (nn.Sequential(nn.Conv2d(1, 1, 1), nn.AdaptiveAvgPool2d(2)), (1, 4, 4), "global pooling"),
    (nn.Sequential(nn.Conv2d(1, 2, 1), nn.Unflatten(1, (1, 2))), (1, 2, 2), "Unflatten"),
], ids=["stride2-even", "over-padded", "groups", "relu-on-input", "flatten-to-softmax",
        "avg-count-pad", "adaptive-2", "unflatten"])
def test_refusals(model, shape, words):
    with pytest.raises(UnsupportedError, match=words):
        trace(model, torch.randn(2, *shape))


def test_conv_with_two_consumers_cannot_fuse_relu():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)

        def forward(self, x):
            y = self.conv(x)
            return F.relu(y) + y

    with pytest.raises(UnsupportedError, match="also used elsewhere"):
        trace(Model(), torch.randn(1, 2, 3, 3))


def test_conv_used_past_a_dropout_cannot_fuse_relu():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)
            self.drop = nn.Dropout()

        def forward(self, x):
            y = self.conv(x)
            return F.relu(self.drop(y)) + y

    with pytest.raises(UnsupportedError, match="also used elsewhere"):
        trace(Model(), torch.randn(1, 2, 3, 3))


def test_untraceable_model_is_refused():
    class Model(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x  # data-dependent control flow

    with pytest.raises(UnsupportedError, match="torch.fx cannot trace"):
        trace(Model(), torch.randn(1, 4))
