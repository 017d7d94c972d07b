"""QDQ ONNX import (edgekd/frontends/onnx_qdq.py): onnxruntime's quantize_static output read
straight to the int8 IR with the file's integers, and every case where the file asks for
arithmetic TFLite's scheme expresses differently converted with a warning, or refused."""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest

from edgekd.errors import EdgeKDError, UnsupportedError
from edgekd.frontends import load_model
from edgekd.frontends.onnx import OnnxSemanticsWarning, read_onnx

from .onnx_models import (
    GraphBuilder, dequantize_output, digits, export_torch, quantize_input,
    quantize_with_onnxruntime, run_onnxruntime, run_reference, trained_digits_cnn,
)


@pytest.fixture(scope="module")
def float_digits(tmp_path_factory):
    return export_torch(trained_digits_cnn(), tmp_path_factory.mktemp("qdq") / "digits.onnx")


def read_quietly(source, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OnnxSemanticsWarning)
        return read_onnx(source, **options)


def agreement_with_onnxruntime(path, graph) -> tuple[float, float]:
    """(argmax agreement, largest difference in output codes) on the digits test split."""
    x = digits().test.x
    expected = run_onnxruntime(path, x)
    got = dequantize_output(graph, run_reference(graph, quantize_input(graph, x)))
    scale = graph.tensor(graph.outputs[0]).quant.scale[0]
    return float((got.argmax(1) == expected.argmax(1)).mean()), \
        float(np.abs(got - expected).max() / scale)


def test_quantize_static_model_is_read_with_the_file_integers(float_digits, tmp_path):
    path = quantize_with_onnxruntime(float_digits, tmp_path / "qdq.onnx")
    graph = read_quietly(path)
    assert [n.op for n in graph.nodes] == ["CONV_2D", "CONV_2D", "MAX_POOL_2D", "CONV_2D",
                                           "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert (graph.inputs, graph.outputs) == (["input"], ["output"])
    model = onnx.load(str(path))
    initializers = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    conv = model.graph.node[[n.op_type for n in model.graph.node].index("Conv")]
    weight_dq = next(n for n in model.graph.node if n.output[0] == conv.input[1])
    file_codes = initializers[weight_dq.input[0]]
    weights = graph.tensor(graph.nodes[0].inputs[1])
    assert weights.data.tobytes() == file_codes.transpose(0, 2, 3, 1).tobytes()
    assert np.array_equal(weights.quant.scale,
                          initializers[weight_dq.input[1]].astype(np.float64))
    x_q = next(n for n in model.graph.node if n.op_type == "QuantizeLinear"
               and n.input[0] == "input")
    assert graph.tensor("input").quant.is_per_tensor(float(initializers[x_q.input[1]]),
                                                     int(initializers[x_q.input[2]]))


@pytest.mark.parametrize("options", [
    {"per_channel": True},
    {"per_channel": False},
    {"activations": "QUInt8"},
    {"activations": "QUInt8", "weights": "QUInt8"},
])
def test_quantize_static_variants_agree_with_onnxruntime(float_digits, tmp_path, options):
    """TFLite's arithmetic on the file's parameters, against onnxruntime's own: a code of
    rounding apart at most, and the same class on >= 99 % of the digits test split."""
    path = quantize_with_onnxruntime(float_digits, tmp_path / "qdq.onnx", **options)
    graph = read_quietly(path)
    agreement, code_difference = agreement_with_onnxruntime(path, graph)
    assert agreement >= 0.99
    assert code_difference <= 2.0 + 1e-3


def test_onnxruntime_specific_arithmetic_is_warned_about(float_digits, tmp_path):
    path = quantize_with_onnxruntime(float_digits, tmp_path / "qdq.onnx", activations="QUInt8")
    with pytest.warns(OnnxSemanticsWarning) as record:
        graph = read_onnx(path)
    messages = "\n".join(str(w.message) for w in record)
    assert "uint8 activations are read as int8 with the zero point moved down by 128" in messages
    assert "onnxruntime requantizes the average" in messages
    assert "edgekd rescales it" in messages  # the classifier's bias, after the average
    assert graph.tensor("input").quant.zero_point[0] == -128  # uint8 zero point 0


def test_calibration_data_for_a_qdq_model_is_ignored_with_a_warning(float_digits, tmp_path):
    path = quantize_with_onnxruntime(float_digits, tmp_path / "qdq.onnx")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        load_model(path, calib="digits")
    assert any("already quantized (QDQ); the calibration data is ignored" in str(w.message)
               for w in record)


def test_qoperator_format_is_refused(float_digits, tmp_path):
    from onnxruntime.quantization import QuantFormat, quantize_static

    from .onnx_models import digits as data

    class Reader:
        def __init__(self):
            self.items = iter([{"input": data().train.x[:1]}])

        def get_next(self):
            return next(self.items, None)

    path = tmp_path / "qop.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(str(float_digits), str(path), Reader(),
                        quant_format=QuantFormat.QOperator)
    with pytest.raises(UnsupportedError, match=r"\(QLinearConv\): unsupported op; supported:"):
        read_onnx(path)


# --- hand-built QDQ graphs -------------------------------------------------------------------


def conv_model(codes: np.ndarray, scale, zero_point, relu_twice: tuple | None = None,
               act_dtype=np.int8) -> bytes:
    """input -> Q/DQ -> Conv (3x3, SAME) [-> Q/DQ -> Relu] -> Q/DQ -> output."""
    b = GraphBuilder()
    zero = 0 if act_dtype == np.uint8 else -128
    x = b.quantize("input", 1 / 255, zero, act_dtype)
    w = b.quantized_constant("w", codes, scale, zero_point)
    y = b.node("Conv", [x, w], "conv", pads=[1, 1, 1, 1])
    if relu_twice is not None:
        y = b.node("Relu", [b.quantize(y, *relu_twice, act_dtype)], "relu")
    out = b.quantize(y, 0.05, 0 if act_dtype == np.uint8 else -10, act_dtype)
    return b.model([b.node("Identity", [out], "output")])


def test_weights_with_a_zero_point_inside_int8_are_shifted_exactly():
    rng = np.random.default_rng(0)
    codes = rng.integers(-100, 100, (4, 1, 3, 3), dtype=np.int8)
    zero_point = np.array([3, -5, 0, 20], np.int8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OnnxSemanticsWarning)  # exact: nothing to warn about
        graph = read_onnx(conv_model(codes, [0.01] * 4, zero_point), source_name="m.onnx")
    weights = graph.tensor(graph.nodes[0].inputs[1])
    expected = (codes.astype(int) - zero_point.reshape(4, 1, 1, 1)).transpose(0, 2, 3, 1)
    assert np.array_equal(weights.data, expected)
    assert not weights.quant.zero_point.any()


def test_asymmetric_weights_beyond_int8_are_requantized_with_a_warning():
    codes = np.full((2, 1, 3, 3), -128, np.int8)
    codes[1] = 127
    data = conv_model(codes, [0.01, 0.02], np.array([100, -100], np.int8))
    with pytest.warns(OnnxSemanticsWarning, match=r"weights 'w_codes' are asymmetric beyond "
                                                  r"int8"):
        graph = read_onnx(data, source_name="m.onnx")
    weights = graph.tensor(graph.nodes[0].inputs[1])
    real = weights.data.astype(float) * weights.quant.scale.reshape(2, 1, 1, 1)
    np.testing.assert_allclose(real[0], -2.28, rtol=1e-6)  # 0.01 * (-128 - 100)
    np.testing.assert_allclose(real[1], 4.54, rtol=1e-6)  # 0.02 * (127 + 100)


def test_relu_between_two_equal_grids_fuses_into_the_conv():
    codes = np.ones((2, 1, 3, 3), np.int8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OnnxSemanticsWarning)
        graph = read_onnx(conv_model(codes, [0.01, 0.01], np.zeros(2, np.int8),
                                     relu_twice=(0.05, -10)), source_name="m.onnx")
    assert [(n.op, n.attrs["activation"]) for n in graph.nodes] == [("CONV_2D", "RELU")]


def test_relu_between_two_different_grids_requantizes_once_with_a_warning():
    codes = np.ones((2, 1, 3, 3), np.int8)
    with pytest.warns(OnnxSemanticsWarning, match=r"quantizes 'conv_node''s output twice"):
        graph = read_onnx(conv_model(codes, [0.01, 0.01], np.zeros(2, np.int8),
                                     relu_twice=(0.1, 3)), source_name="m.onnx")
    out = graph.tensor(graph.outputs[0])
    assert out.quant.is_per_tensor(float(np.float32(0.05)), -10)
    assert graph.nodes[0].attrs["activation"] == "RELU"


def test_uint8_activations_compute_the_same_reals_as_onnxruntime():
    rng = np.random.default_rng(1)
    codes = rng.integers(-127, 128, (3, 1, 3, 3), dtype=np.int8)
    data = conv_model(codes, [0.02, 0.01, 0.03], np.zeros(3, np.int8), act_dtype=np.uint8)
    graph = read_quietly(data, source_name="m.onnx")
    x = digits().test.x[:50]
    expected = run_onnxruntime(data, x)  # (N, C, H, W)
    got = dequantize_output(graph, run_reference(graph, quantize_input(graph, x)))
    assert np.abs(got.transpose(0, 3, 1, 2) - expected).max() <= 0.05 + 1e-6  # one code


def test_matmul_add_per_tensor_weights_and_nhwc_flatten():
    """Transpose(0,2,3,1) -> Reshape -> MatMul with per-tensor weights + Add(int32 bias)."""
    rng = np.random.default_rng(2)
    b = GraphBuilder(input_shape=(1, 2, 3, 3))
    x = b.quantize("input", 0.02, 5)
    t = b.node("Transpose", [x], "nhwc", perm=[0, 2, 3, 1])
    flat = b.quantize(b.node("Reshape", [t, b.constant("shape", np.array([1, 18]))], "flat"),
                      0.02, 5)
    w = b.quantized_constant("w", rng.integers(-127, 128, (18, 4), dtype=np.int8), 0.01, 0)
    bias = b.quantized_constant("bias", rng.integers(-500, 500, 4, dtype=np.int32),
                                np.float32(0.02) * np.float32(0.01), 0)
    y = b.node("Add", [b.node("MatMul", [flat, w], "mm"), bias], "fc")
    out = b.quantize(y, 0.03, 0)
    data = b.model([out])
    graph = read_onnx(data, source_name="m.onnx")
    assert [n.op for n in graph.nodes] == ["RESHAPE", "FULLY_CONNECTED"]
    fc_weights = graph.tensor(graph.nodes[1].inputs[1])
    assert fc_weights.shape == (4, 18) and fc_weights.quant.axis is None
    x_float = rng.uniform(-2, 2, (20, 2, 3, 3)).astype(np.float32)
    expected = run_onnxruntime(data, x_float)
    got = dequantize_output(graph, run_reference(graph, quantize_input(graph, x_float)))
    assert np.abs(got - expected).max() <= 0.03 + 1e-6


def requantizing_maxpool() -> bytes:
    b = GraphBuilder()
    x = b.quantize("input", 0.02, 0)
    pooled = b.node("MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])
    return b.model([b.quantize(pooled, 0.04, 0)])


def float_output() -> bytes:
    b = GraphBuilder()
    x = b.quantize("input", 0.02, 0)
    return b.model([b.node("Add", [x, x], "sum")])


def int16_activations() -> bytes:
    b = GraphBuilder(opset=21)  # int16 Q/DQ came with opset 21
    return b.model([b.quantize("input", 0.02, 0, np.int16)])


def mismatched_dequantize() -> bytes:
    b = GraphBuilder()
    s = b.constant("s", np.float32(0.02))
    s2 = b.constant("s2", np.float32(0.03))
    z = b.constant("z", np.int8(0))
    q = b.node("QuantizeLinear", ["input", s, z], "q")
    return b.model([b.node("DequantizeLinear", [q, s2, z], "dq")])


@pytest.mark.parametrize("make, message", [
    (requantizing_maxpool, r"node 'pool_q_node' \(QuantizeLinear\): re-quantizes 'pool' from "
                           r"\(scale, zero point\)"),
    (float_output, r"output 'sum' is computed in float"),
    (int16_activations, r"\(QuantizeLinear\): int16 activations \(supported: int8, uint8\)"),
    (mismatched_dequantize, r"\(DequantizeLinear\): dequantizes 'q' with .* but it was "
                            r"quantized with"),
])
def test_what_the_ir_cannot_express_is_refused(make, message):
    with pytest.raises(EdgeKDError, match=message) as info:
        read_onnx(make(), source_name="m.onnx")
    assert str(info.value).startswith("m.onnx: ") and "\n" not in str(info.value)


def test_stride_2_pads_1_on_an_even_input_read_as_pad_and_valid_conv(tmp_path):
    """The downsampling of ResNet and MobileNetV2 (8x8 -> 4x4): TFLite's SAME pads after,
    torch before; the QDQ reader writes a PAD of the zero point, the C folds it."""
    import torch
    from torch import nn

    from edgekd.frontends.tflite import save_tflite
    from edgekd.verify.host import verify_host

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4))
    path = quantize_with_onnxruntime(export_torch(model, tmp_path / "f.onnx"),
                                     tmp_path / "qdq.onnx")
    graph = read_quietly(path)
    assert [n.op for n in graph.nodes if n.op != "QUANTIZE" and n.op != "DEQUANTIZE"] == \
        ["PAD", "CONV_2D", "PAD", "DEPTHWISE_CONV_2D"]
    x = digits().test.x[:200]
    expected = run_onnxruntime(path, x)
    got = dequantize_output(graph, run_reference(graph, quantize_input(graph, x)))
    scale = graph.tensor(graph.outputs[0]).quant.scale[0]
    differ = np.abs(got - expected.transpose(0, 2, 3, 1)).max()
    assert differ <= scale * 1.001  # onnxruntime rounds its own way
    result = verify_host(save_tflite(graph, tmp_path / "m.tflite"), inputs=10)
    assert result.bit_exact, result.summary()
