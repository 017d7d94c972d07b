"""edgekd/quant/layers.py: the quantized forward pass is the integer path, code for code.

Random small networks are calibrated, converted, and run by the numpy reference; the QAT
forward pass in torch (NCHW, float64 accumulation, torch's pooling) must give the same
int8 codes as the reference (NHWC, TFLM's kernels) for every output value.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from edgekd.errors import UnsupportedError
from edgekd.frontends.torch_fx import to_nhwc
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.quant import calibrate, convert
from edgekd.quant.evaluate import run_reference
from edgekd.quant.layers import QAdd, QValue
from edgekd.quant.model import build_quant_model
from edgekd.reference.add import add as reference_add
from edgekd.reference.params import prepare_add


class RandomNet(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        cin, cout = cfg["cin"], cfg["cout"]
        groups = cin if cfg["depthwise"] else 1
        self.conv = nn.Conv2d(cin, cout, cfg["k"], cfg["stride"], cfg["padding"],
                              groups=groups, bias=cfg["bias"])
        self.bn = nn.BatchNorm2d(cout) if cfg["bn"] else nn.Identity()
        self.act = {"NONE": nn.Identity(), "RELU": nn.ReLU(), "RELU6": nn.ReLU6()}[cfg["act"]]
        self.branch = nn.Conv2d(cout, cout, 1)
        self.pool = {"none": nn.Identity(), "max": nn.MaxPool2d(2, ceil_mode=False),
                     "avg": nn.AvgPool2d(2), "global": nn.AdaptiveAvgPool2d(1)}[cfg["pool"]]
        self.fc = nn.LazyLinear(cfg["classes"]) if cfg["head"] else None

    def forward(self, x):
        y = self.act(self.bn(self.conv(x)))
        if self.cfg["residual"]:
            y = F.relu(y + self.branch(y))
        y = self.pool(y)
        if self.fc is not None:
            y = self.fc(torch.flatten(y, 1))
        return y


@st.composite
def configs(draw):
    cin = draw(st.integers(1, 4))
    depthwise = draw(st.booleans())
    cout = cin * draw(st.integers(1, 3)) if depthwise else draw(st.integers(1, 6))
    return dict(cin=cin, cout=cout, depthwise=depthwise, k=draw(st.integers(1, 3)),
                stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, 1)),
                bias=draw(st.booleans()), bn=draw(st.booleans()),
                act=draw(st.sampled_from(["NONE", "RELU", "RELU6"])),
                residual=draw(st.booleans()),
                pool=draw(st.sampled_from(["none", "max", "avg", "global"])),
                head=draw(st.booleans()), classes=draw(st.integers(1, 7)),
                h=draw(st.integers(2, 9)), w=draw(st.integers(2, 9)))


@given(cfg=configs(), seed=st.integers(0, 2**31 - 1), offset=st.floats(-2, 2),
       spread=st.floats(0.1, 20))
@settings(max_examples=40, deadline=None)
def test_quantized_forward_is_the_reference(cfg, seed, offset, spread):
    torch.manual_seed(seed)
    model = RandomNet(cfg)
    x = torch.randn(6, cfg["cin"], cfg["h"], cfg["w"]) * spread + offset
    with torch.no_grad():
        try:
            model(x)  # materializes the lazy Linear; may fail for too small inputs
        except RuntimeError:
            assume(False)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.2, 3)
                m.weight.uniform_(-2, 2)
    model.eval()
    try:
        quant_model = build_quant_model(model, x)
    except UnsupportedError:
        assume(False)  # torch padding that TFLite cannot express
    calibrate(quant_model, x[:4])  # the last samples fall partly outside the ranges
    graph = convert(quant_model)
    with torch.no_grad():
        values = quant_model.forward_values(x)
    codes = values[quant_model.traced.outputs[0]].q.numpy()
    reference = run_reference(graph, x.numpy())[0]
    np.testing.assert_array_equal(to_nhwc(codes), reference)


def _add_graph(q1, q2, qo, activation) -> Graph:
    def t(name, q):
        return Tensor(name, (64,), "int8", QuantParams.per_tensor(*q))

    tensors = {"a": t("a", q1), "b": t("b", q2), "y": t("y", qo)}
    node = Node("ADD", "add", ["a", "b"], ["y"], {"activation": activation})
    return Graph("add", tensors, [node], ["a", "b"], ["y"]).validate()


scales = st.floats(1e-3, 1.0).map(lambda s: float(np.float32(s)))
zero_points = st.integers(-128, 127)


@given(s1=scales, s2=scales, so=scales, z1=zero_points, z2=zero_points, zo=zero_points,
       activation=st.sampled_from(["NONE", "RELU"]), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=100, deadline=None)
def test_integer_add_is_tflm_add(s1, s2, so, z1, z2, zo, activation, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, 64)
    b = rng.integers(-128, 128, 64)
    graph = _add_graph((s1, z1), (s2, z2), (so, zo), activation)
    try:
        params = prepare_add(graph, graph.nodes[0])
    except UnsupportedError:
        assume(False)  # output scale too small for TFLite's ADD
    expected = reference_add(params, a.astype(np.int8), b.astype(np.int8))
    got = QAdd.integer_add(QValue(None, torch.from_numpy(a), s1, z1),
                            QValue(None, torch.from_numpy(b), s2, z2), so, zo)
    low = max(-128, zo) if activation == "RELU" else -128
    np.testing.assert_array_equal(got.clamp(low, 127).numpy(), expected)
