"""Zero padding TFLite's SAME cannot express (stride 2, padding 1 on an even size: the
downsampling of ResNet and MobileNetV2): quantized as PAD + VALID convolution, the PAD
folded back into the convolution by the code generator; bit-exact with TFLM."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from edgekd.codegen import generate_model
from edgekd.frontends.tflite import save_tflite
from edgekd.verify.host import verify_host

from .calibrated import assert_graph_computes_the_forward, calibrated


class Downsampling(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.wide = nn.Conv2d(8, 4, 5, stride=2, padding=2)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.wide(self.relu(self.dw(self.relu(self.stem(x)))))


@pytest.fixture(scope="module")
def quantized():
    torch.manual_seed(0)
    return calibrated(Downsampling(), (3, 12, 12))


def test_even_input_stride_2_padding_1_becomes_pad_and_valid_conv(quantized):
    quant_model, graph, x = quantized
    # 12 -> 6 -> 3 need PADs; on 3x3, padding 2 of the 5x5 kernel is TFLite's SAME.
    assert [n.op for n in graph.nodes] == ["PAD", "CONV_2D", "PAD", "DEPTHWISE_CONV_2D",
                                           "CONV_2D"]
    assert graph.nodes[-1].attrs["padding"] == "SAME"
    pad = graph.nodes[0]
    assert pad.attrs["paddings"] == ((0, 0), (1, 0), (1, 0), (0, 0))  # nothing unread
    assert pad.attrs["pad_value"] == graph.tensor(pad.inputs[0]).quant.scalar_zero_point
    assert_graph_computes_the_forward(quant_model, graph, x)


def test_generated_c_folds_the_pads_and_matches_tflm(quantized, tmp_path):
    _, graph, _ = quantized
    generated = generate_model(graph, "down")
    assert [n.op for n in generated.graph.nodes] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"]
    result = verify_host(save_tflite(graph, tmp_path / "down.tflite"), inputs=20)
    assert result.bit_exact, result.summary()
    assert any(c.startswith("tflm") for c in result.compared)
