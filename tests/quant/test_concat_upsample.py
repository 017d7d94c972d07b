"""torch.cat and nearest upsampling through the torch front end: the int8 graph's
reference equals the quantized model's forward, and the C is bit-exact with TFLM."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from edgekd.frontends.tflite import save_tflite
from edgekd.verify.host import verify_host

from .calibrated import assert_graph_computes_the_forward, calibrated


class UNetLike(nn.Module):
    """Downsample, upsample by 2 (nearest), concatenate with the skip along channels."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.down = nn.Conv2d(6, 8, 3, stride=2, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Conv2d(14, 4, 1)

    def forward(self, x):
        skip = torch.relu(self.stem(x))
        low = torch.relu(self.down(skip))
        return self.head(torch.cat([skip, self.up(low)], dim=1))


@pytest.fixture(scope="module")
def quantized():
    torch.manual_seed(0)
    return calibrated(UNetLike(), (3, 8, 8))


def test_the_int8_graph_computes_the_quantized_forward(quantized):
    quant_model, graph, x = quantized
    ops = [n.op for n in graph.nodes]
    assert {"CONCATENATION", "RESIZE_NEAREST_NEIGHBOR", "PAD", "REQUANTIZE"} <= set(ops)
    assert_graph_computes_the_forward(quant_model, graph, x)


def test_the_c_is_bit_exact_with_tflm(quantized, tmp_path):
    _, graph, _ = quantized
    result = verify_host(save_tflite(graph, tmp_path / "unet.tflite"), inputs=20)
    assert result.bit_exact, result.summary()
    assert any(c.startswith("tflm") for c in result.compared)
