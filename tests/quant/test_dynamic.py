"""edgekd/quant/dynamic.py: dynamic quantization of a digits MLP against torch's
quantize_dynamic (within a tolerance derived from both schemes' rounding), and the
generated C bit-exact with the reference on the host and on a Cortex-M4F board."""
from __future__ import annotations

import copy
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

import edgekd
from edgekd.cli import main
from edgekd.errors import UnsupportedError
from edgekd.frontends.tflite import read_tflite
from edgekd.frontends.torch_fx import to_nhwc
from edgekd.ir import Graph
from edgekd.quant.dynamic import quantize_dynamic, quantize_weights
from edgekd.interpreter import run
from edgekd.verify.boards import load_board
from edgekd.verify.host import verify_host


def digits_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64),
                         nn.ReLU(), nn.Linear(64, 10))


@pytest.fixture(scope="module")
def trained_mlp(digits) -> nn.Sequential:
    """64 -> 128 -> 64 -> 10, trained briefly (full-batch Adam; ~93 % test accuracy)."""
    torch.manual_seed(0)
    model = digits_mlp()
    x, y = torch.from_numpy(digits.train.x), torch.from_numpy(digits.train.y)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(80):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval()


@dataclass
class Outputs:
    graph: Graph
    inputs: np.ndarray  # [N, 1, 8, 8, 1] float32, the graph's input per sample
    float_: np.ndarray  # [N, 10] the float model in float64
    ours: np.ndarray  # [N, 10] edgekd's reference
    torch: np.ndarray  # [N, 10] torch's quantize_dynamic
    sigma: np.ndarray  # [N, 10] standard deviation of ours - torch from rounding noise


def torch_dynamic(model: nn.Module) -> nn.Module:
    """torch's per-channel dynamic quantization of every Linear (int8 weights)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig
    from torch.ao.quantization import quantize_dynamic as torch_quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its deprecation
        return torch_quantize_dynamic(model, {nn.Linear: per_channel_dynamic_qconfig},
                                      dtype=torch.qint8)


def rounding_noise_variance(linears: list[nn.Linear], weight_scales: list[np.ndarray],
                            activation_levels: int, x: np.ndarray) -> np.ndarray:
    """Variance per output of a dynamically quantized model's deviation from the float
    model for one input ``x`` (flat), modelling each rounding as independent uniform noise.

    A weight rounds within +-s_w/2 (variance s_w^2 / 12), an input value within +-s_x/2
    with s_x = (max(0, max a) - min(0, min a)) / levels; per layer the deviation of
    W~ x^ from W a has variance s_w^2 / 12 * sum a^2 + W^2 (s_x^2 / 12 + v_in), where v_in
    is the variance carried in from the layer before (ReLU is taken as passing all of it).
    """
    a = x.astype(np.float64)
    variance = np.zeros_like(a)
    for index, (linear, s_w) in enumerate(zip(linears, weight_scales)):
        w = linear.weight.detach().double().numpy()
        s_x = (max(a.max(), 0.0) - min(a.min(), 0.0)) / activation_levels
        variance = s_w**2 / 12 * (a**2).sum() + w**2 @ (s_x**2 / 12 + variance)
        a = w @ a + linear.bias.detach().double().numpy()
        if index < len(linears) - 1:
            a = np.maximum(a, 0.0)
    return variance


@pytest.fixture(scope="module")
def outputs(trained_mlp, digits) -> Outputs:
    graph = quantize_dynamic(trained_mlp, digits.train.x[:2])
    inputs = np.ascontiguousarray(to_nhwc(digits.test.x))[:, None]
    ours = np.stack([run(graph, sample)[0][0] for sample in inputs])
    quantized = torch_dynamic(trained_mlp)
    with torch.no_grad():
        # One sample per call: torch quantizes the whole batch with one range, edgekd
        # each input vector with its own.
        theirs = np.concatenate([quantized(torch.from_numpy(s[None])).numpy()
                                 for s in digits.test.x])
    linears = [m for m in trained_mlp if isinstance(m, nn.Linear)]
    ours_scales = [graph.tensor(f"{i}.weight").quant.scale for i in (1, 3, 5)]
    torch_scales = [m.weight().q_per_channel_scales().numpy()
                    for m in quantized if isinstance(m, DynamicLinear)]
    flat = digits.test.x.reshape(len(digits.test.x), -1)
    # edgekd: int8 inputs, 255 steps; torch: uint8 with fbgemm's reduce_range, 127 steps
    # (the x86 and fbgemm engines; qnnpack's 255 would only make torch closer).
    sigma = np.sqrt(np.stack([rounding_noise_variance(linears, ours_scales, 255, s)
                              + rounding_noise_variance(linears, torch_scales, 127, s)
                              for s in flat]))
    with torch.no_grad():
        float_ = copy.deepcopy(trained_mlp).double()(
            torch.from_numpy(digits.test.x).double()).numpy()
    return Outputs(graph, inputs, float_, ours, theirs, sigma)


def test_outputs_differ_from_torch_only_by_rounding_noise(outputs):
    # Both schemes round independently, so ours - torch is noise of the derived sigma
    # (about 0.08 on logits up to 43): every output within 6 sigma, and the spread as
    # predicted (a wrong scale, zero point or layout gives differences of whole units).
    z = np.abs(outputs.ours - outputs.torch) / outputs.sigma
    assert z.max() <= 6.0, f"{int((z > 6).sum())} outputs beyond 6 sigma, worst {z.max():.2f}"
    assert np.sqrt((z**2).mean()) < 2.0


def test_argmax_agrees_with_torch_and_the_float_model(outputs, digits):
    ours = outputs.ours.argmax(axis=1)
    assert (ours == outputs.torch.argmax(axis=1)).mean() >= 0.99
    assert (ours == outputs.float_.argmax(axis=1)).mean() >= 0.99
    assert (ours == digits.test.y).mean() >= 0.85


def test_generated_c_is_bit_exact_on_the_host(outputs):
    result = verify_host(outputs.graph, outputs.inputs)
    assert result.bit_exact, result.summary()
    assert result.inputs == len(outputs.inputs)


def test_graph_is_three_dynamic_layers_with_fused_relus(outputs):
    graph = outputs.graph
    assert [n.op for n in graph.nodes] == ["DYNAMIC_FULLY_CONNECTED"] * 3
    assert [n.attrs["activation"] for n in graph.nodes] == ["RELU", "RELU", "NONE"]
    assert graph.tensor(graph.inputs[0]).shape == (1, 8, 8, 1)
    assert graph.tensor(graph.outputs[0]).dtype == "float32"
    weights = graph.tensor("1.weight")
    assert weights.dtype == "int8" and weights.quant.axis == 0 and weights.quant.scale.size == 128


def test_weights_are_symmetric_per_output_channel():
    w = np.array([[0.5, -1.27, 0.3], [0.0, 0.0, 0.0], [2.54, 0.01, -0.015]])
    q, scales = quantize_weights(w)
    assert scales.dtype == np.float32
    assert np.allclose(scales, [0.01, 1.0, 0.02])
    assert q.tolist() == [[50, -127, 30], [0, 0, 0], [127, 1, -1]]  # 0.5 and -0.75 steps
    dequantized = q * scales.astype(np.float64)[:, None]
    assert (np.abs(dequantized - w) <= scales[:, None] / 2 + 1e-9).all()


def test_linear_without_bias_and_relu6_run_on_the_host():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(12, 7, bias=False), nn.ReLU6(), nn.Dropout(0.1),
                          nn.Linear(7, 3))
    graph = edgekd.quantize_dynamic(model, torch.randn(2, 12))
    assert graph.nodes[0].inputs[2] == "" and graph.nodes[0].attrs["activation"] == "RELU6"
    inputs = np.random.default_rng(0).normal(scale=4.0, size=(50, 1, 12)).astype(np.float32)
    result = verify_host(graph, inputs)
    assert result.bit_exact, result.summary()
    first = np.stack([run(graph, s)[0] for s in inputs])
    assert first.shape == (50, 1, 3)


def test_flattened_nchw_input_keeps_torch_s_feature_order():
    # Input (N, 2, 3, 3): the graph takes it NHWC, so the weight columns are permuted; a
    # wrong order would be off by whole units, quantization by about 1 %.
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(18, 5))
    x = torch.randn(1, 2, 3, 3)
    graph = quantize_dynamic(model, x)
    assert graph.tensor(graph.inputs[0]).shape == (1, 3, 3, 2)
    ours = run(graph, np.ascontiguousarray(to_nhwc(x.numpy())))[0]
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.abs(ours - expected).max() < 0.03 * np.abs(expected).max()


class WithConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(72, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.conv(x), 1))


class WithAdd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) + self.b(x)


@pytest.mark.parametrize("model, example, named", [
    (WithConv(), torch.zeros(2, 1, 8, 8), r"module 'conv' \(Conv2d\).*: conv layers are not"),
    (WithAdd(), torch.zeros(2, 4), "node 'add'.*: add layers are not supported"),
    (nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)), torch.zeros(2, 4),
     r"module '1' \(Softmax\).*: softmax layers are not"),
])
def test_other_layers_are_refused_by_name(model, example, named):
    with pytest.raises(UnsupportedError, match=named):
        quantize_dynamic(model, example)


def test_weights_beyond_the_kernel_scale_limit_are_refused():
    model = nn.Sequential(nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight[1, 2] = 2.0e4
    with pytest.raises(UnsupportedError, match="Linear '0' has a weight of magnitude 20000"):
        quantize_dynamic(model, torch.zeros(2, 3))


def test_the_model_is_left_unchanged(trained_mlp, digits):
    before = {k: v.clone() for k, v in trained_mlp.state_dict().items()}
    quantize_dynamic(trained_mlp, digits.train.x[:2])
    after = trained_mlp.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert next(trained_mlp.parameters()).dtype == torch.float32


@pytest.mark.slow
def test_generated_c_is_bit_exact_on_a_cortex_m4f(outputs, tmp_path):
    from edgekd.verify.target import verify_target

    board = load_board("mps2-an386")
    if board.missing_tools():
        pytest.skip(f"mps2-an386: {', '.join(board.missing_tools())} not installed")
    result = verify_target(outputs.graph, board, inputs=outputs.inputs[:20], workdir=tmp_path,
                           progress=None)
    assert result.bit_exact, result.summary()
    assert result.inputs == 20
    assert result.instructions["mean"] > 0


MLP_FACTORY = """from torch import nn


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64),
                         nn.ReLU(), nn.Linear(64, 10))
"""


def test_cli_quantize_dynamic_writes_a_tflite_that_verifies(trained_mlp, tmp_path, monkeypatch,
                                                            capsys):
    (tmp_path / "mlp_factory.py").write_text(MLP_FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.save(trained_mlp.state_dict(), tmp_path / "mlp.pt")
    model = tmp_path / "mlp.tflite"
    assert main(["quantize", "--model", "mlp_factory:mlp", "--weights", str(tmp_path / "mlp.pt"),
                 "--data", "digits", "--method", "dynamic", "-o", str(model)]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"test accuracy \(269 samples\): float \d+\.\d\d%, dynamic \d+\.\d\d%",
                     printed), printed
    assert [n.op for n in read_tflite(model).nodes] == ["DYNAMIC_FULLY_CONNECTED"] * 3
    assert main(["verify", str(model), "--inputs", "30"]) == 0
    printed = capsys.readouterr().out
    assert "bit-exact on 30 inputs" in printed
    assert "tflm: not run (no kernel for DYNAMIC_FULLY_CONNECTED)" in printed
