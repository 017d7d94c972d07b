"""Float ONNX import (edgekd/frontends/onnx.py, onnx_float.py): the traced layers compute
what onnxruntime computes, edgekd's PTQ quantizes an ONNX export exactly as it quantizes
the torch model, and the result compiles to C that is bit-exact with the reference."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import edgekd
from edgekd.errors import EdgeKDError, ModelFormatError, UnsupportedError
from edgekd.frontends import load_model
from edgekd.frontends.onnx import load_onnx, read_onnx
from edgekd.frontends.onnx_float import trace_onnx
from edgekd.quant import QuantModel

from .onnx_models import (
    GraphBuilder, assert_equivalent, digits, export_torch, residual_net, run_onnxruntime,
    trained_digits_cnn,
)


def float_outputs(path, x: np.ndarray) -> np.ndarray:
    """The traced layers run in float (BatchNorm folded) on NCHW samples."""
    model = QuantModel(trace_onnx(load_onnx(path))).set_mode("float")
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("make_model", [trained_digits_cnn, residual_net])
def test_traced_layers_compute_what_onnxruntime_computes(make_model, tmp_path):
    path = export_torch(make_model(), tmp_path / "m.onnx")
    x = digits().test.x[:64]
    np.testing.assert_allclose(float_outputs(path, x), run_onnxruntime(path, x), atol=1e-5)


def test_onnx_and_torch_front_ends_quantize_to_the_same_integers(tmp_path):
    """One quantizer: PTQ of the ONNX export equals PTQ of the torch module, byte for byte."""
    model = residual_net()
    calib = digits().train.x[:300]
    path = export_torch(model, tmp_path / "m.onnx")
    assert_equivalent(edgekd.quantize(model, calib), read_onnx(path, calib=calib))


def test_load_model_quantizes_a_float_model_with_calibration_data(tmp_path):
    path = export_torch(trained_digits_cnn(), tmp_path / "digits_cnn.onnx")
    graph = load_model(path, calib="digits", method="percentile")
    assert graph.name == "digits_cnn"
    assert [n.op for n in graph.nodes] == ["CONV_2D", "CONV_2D", "MAX_POOL_2D", "CONV_2D",
                                           "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert [n.attrs["activation"] for n in graph.nodes if n.op == "CONV_2D"] == ["RELU"] * 3
    assert graph.tensor(graph.inputs[0]).shape == (1, 8, 8, 1)
    float_io = load_model(path, calib=digits().train.x[:50], float_io=True)
    assert [float_io.nodes[0].op, float_io.nodes[-1].op] == ["QUANTIZE", "DEQUANTIZE"]


def test_a_float_model_without_calibration_data_is_an_error(tmp_path):
    path = export_torch(residual_net(), tmp_path / "m.onnx")
    with pytest.raises(EdgeKDError, match=r"m\.onnx: a float model.*--calib"):
        load_model(path)


def test_calibration_data_of_the_wrong_shape_is_an_error(tmp_path):
    path = export_torch(residual_net(), tmp_path / "m.onnx")
    with pytest.raises(EdgeKDError, match=r"calibration data of shape \[4, 1, 6, 6\] does "
                                          r"not fit the input 'input' \[N, 1, 8, 8\]"):
        read_onnx(path, calib=np.zeros((4, 1, 6, 6), np.float32))


def test_batchnorm_matmul_add_and_nhwc_flatten_are_read(tmp_path):
    """Conv -> BatchNormalization -> Clip(0) ; Transpose(0,2,3,1) -> Flatten -> MatMul + Add
    (weights in NHWC column order) -> Relu, checked against onnxruntime."""
    rng = np.random.default_rng(0)
    b = GraphBuilder()
    b.node("Conv", ["input", b.constant("w", rng.normal(0, 0.5, (4, 1, 3, 3)).astype(np.float32))],
           "conv", pads=[1, 1, 1, 1])
    stats = [rng.uniform(0.5, 1.5, 4), rng.normal(0, 0.1, 4), rng.normal(0, 0.1, 4),
             rng.uniform(0.5, 2, 4)]
    b.node("BatchNormalization", ["conv", *(b.constant(n, s.astype(np.float32)) for n, s in
                                            zip(("g", "beta", "mean", "var"), stats))],
           "bn", epsilon=1e-3)
    b.node("Clip", ["bn", b.constant("zero", np.float32(0))], "relu")
    b.node("Transpose", ["relu"], "nhwc", perm=[0, 2, 3, 1])
    b.node("Flatten", ["nhwc"], "flat", axis=1)
    b.node("MatMul", ["flat", b.constant("m", rng.normal(0, 0.1, (256, 6)).astype(np.float32))],
           "mm")
    b.node("Add", [b.constant("bias", rng.normal(0, 0.1, 6).astype(np.float32)), "mm"], "fc")
    b.node("Relu", ["fc"], "output")
    path = tmp_path / "hand.onnx"
    path.write_bytes(b.model(["output"]))
    x = digits().test.x[:32]
    np.testing.assert_allclose(float_outputs(path, x), run_onnxruntime(path, x), atol=1e-5)
    graph = read_onnx(path, calib=digits().train.x[:100])
    assert [(n.op, n.attrs.get("activation")) for n in graph.nodes] == [
        ("CONV_2D", "RELU"), ("RESHAPE", None), ("FULLY_CONNECTED", "RELU")]
    assert graph.nodes[0].attrs["padding"] == "SAME"


def test_opset_13_and_21_are_read(tmp_path):
    for opset in (13, 21):
        b = GraphBuilder(opset=opset)
        b.node("Conv", ["input", b.constant("w", np.ones((2, 1, 3, 3), np.float32))], "output")
        path = tmp_path / f"m{opset}.onnx"
        path.write_bytes(b.model(["output"]))
        assert read_onnx(path, calib=digits().train.x[:10]).nodes[0].op == "CONV_2D"


def test_an_unsupported_opset_is_an_error(tmp_path):
    path = export_torch(residual_net(), tmp_path / "m.onnx", opset=11)
    with pytest.raises(UnsupportedError, match=r"opset 11; supported: opsets 13 to 21"):
        load_onnx(path)


def test_an_unsupported_op_names_the_node_and_lists_the_supported_ops(tmp_path):
    b = GraphBuilder()
    b.node("Conv", ["input", b.constant("w", np.ones((2, 1, 3, 3), np.float32))], "conv")
    b.node("Erf", ["conv"], "output")
    path = tmp_path / "m.onnx"
    path.write_bytes(b.model(["output"]))
    with pytest.raises(UnsupportedError) as info:
        load_model(path, calib="digits")
    message = str(info.value)
    assert message.startswith(f"{path}: node 'output_node' (Erf): unsupported op; "
                              "supported: Conv, Gemm, MatMul")
    assert "\n" not in message and "QuantizeLinear" in message


def test_a_shape_op_on_computed_data_is_refused(tmp_path):
    b = GraphBuilder()
    b.node("Conv", ["input", b.constant("w", np.ones((2, 1, 3, 3), np.float32))], "conv")
    b.node("Div", ["conv", b.constant("two", np.float32(2))], "output")
    path = tmp_path / "m.onnx"
    path.write_bytes(b.model(["output"]))
    with pytest.raises(UnsupportedError, match=r"node 'output_node' \(Div\): unsupported op "
                                               r"on computed data"):
        read_onnx(path, calib="digits")


def test_padding_torch_cannot_compute_is_refused(tmp_path):
    """Stride 2 on 8x8 with one row/column after and none before: TFLite SAME, but not a
    symmetric padding, which the float path computes with (a QDQ model may use it)."""
    b = GraphBuilder()
    b.node("Conv", ["input", b.constant("w", np.ones((2, 1, 3, 3), np.float32))], "output",
           strides=[2, 2], auto_pad="SAME_UPPER")
    path = tmp_path / "m.onnx"
    path.write_bytes(b.model(["output"]))
    with pytest.raises(UnsupportedError, match=r"output \(4, 4\) needs more padding after "
                                               r"than before"):
        read_onnx(path, calib="digits")


def test_padding_tflite_cannot_express_is_refused(tmp_path):
    b = GraphBuilder()
    b.node("Conv", ["input", b.constant("w", np.ones((2, 1, 3, 3), np.float32))], "output",
           pads=[2, 2, 0, 0])
    path = tmp_path / "m.onnx"
    path.write_bytes(b.model(["output"]))
    with pytest.raises(UnsupportedError, match=r"TFLite can only express VALID \(6, 6\) or "
                                               r"SAME \(8, 8\)"):
        read_onnx(path, calib="digits")


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_even_kernel_same_padding_at_stride_one_matches_onnxruntime(tmp_path):
    b = GraphBuilder()
    rng = np.random.default_rng(3)
    b.node("Conv", ["input", b.constant("w", rng.normal(size=(3, 1, 2, 2)).astype(np.float32))],
           "output", auto_pad="SAME_UPPER")
    path = tmp_path / "m.onnx"
    path.write_bytes(b.model(["output"]))
    x = digits().test.x[:8]
    np.testing.assert_allclose(float_outputs(path, x), run_onnxruntime(path, x), atol=1e-5)


# --- external data -------------------------------------------------------------------------


def save_with_external_data(model: onnx.ModelProto, path, location: str) -> None:
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=0)


def test_external_data_in_the_model_folder_is_read(tmp_path):
    source = export_torch(residual_net(), tmp_path / "src.onnx")
    folder = tmp_path / "model"
    folder.mkdir()
    save_with_external_data(onnx.load(str(source)), folder / "m.onnx", "weights.bin")
    calib = digits().train.x[:100]
    assert_equivalent(read_onnx(folder / "m.onnx", calib=calib), read_onnx(source, calib=calib))


@pytest.mark.parametrize("location, why", [
    ("../outside.bin", r"'\.\.' in the path"),
    ("sub/../../outside.bin", r"'\.\.' in the path"),
    ("/etc/passwd", "only a relative path inside the model's folder"),
    ("link.bin", "resolves outside the model's folder"),
    ("missing.bin", "no such file"),
])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, location, why):
    source = export_torch(residual_net(), tmp_path / "src.onnx")
    folder = tmp_path / "model"
    folder.mkdir()
    save_with_external_data(onnx.load(str(source)), folder / "m.onnx", "weights.bin")
    (tmp_path / "outside.bin").write_bytes((folder / "weights.bin").read_bytes())
    os.symlink(tmp_path / "outside.bin", folder / "link.bin")
    model = onnx.load(str(folder / "m.onnx"), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    (folder / "m.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(ModelFormatError, match=why):
        load_onnx(folder / "m.onnx")


def test_external_data_beyond_the_end_of_the_file_is_refused(tmp_path):
    source = export_torch(residual_net(), tmp_path / "src.onnx")
    save_with_external_data(onnx.load(str(source)), tmp_path / "m.onnx", "weights.bin")
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    with pytest.raises(ModelFormatError, match=r"lie outside the 16-byte file"):
        load_onnx(tmp_path / "m.onnx")


def _without_lengths(path, change=lambda tensor: None):
    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        kept = [e for e in tensor.external_data if e.key != "length"]
        del tensor.external_data[:]
        tensor.external_data.extend(kept)
        change(tensor)
    path.write_bytes(model.SerializeToString())


def test_external_data_reads_only_the_bytes_each_tensor_needs(tmp_path):
    """Without lengths, each tensor reads what its type and shape take, not the rest of
    a (here 16 GiB, sparse) file."""
    source = export_torch(residual_net(), tmp_path / "src.onnx")
    save_with_external_data(onnx.load(str(source)), tmp_path / "m.onnx", "weights.bin")
    _without_lengths(tmp_path / "m.onnx")
    os.truncate(tmp_path / "weights.bin", 16 << 30)
    calib = digits().train.x[:20]
    assert_equivalent(read_onnx(tmp_path / "m.onnx", calib=calib), read_onnx(source, calib=calib))


def test_external_data_claiming_a_huge_tensor_is_refused_before_reading(tmp_path):
    from edgekd.budgets import BudgetError

    source = export_torch(residual_net(), tmp_path / "src.onnx")
    save_with_external_data(onnx.load(str(source)), tmp_path / "m.onnx", "weights.bin")

    def huge(tensor):
        tensor.dims[:] = [1 << 20, 1 << 20]

    _without_lengths(tmp_path / "m.onnx", huge)
    with pytest.raises(BudgetError, match="EDGEKD_MAX_TENSOR_BYTES"):
        load_onnx(tmp_path / "m.onnx")


def test_a_model_with_two_inputs_is_refused(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"])], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in "ab"],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                     .SerializeToString())
    with pytest.raises(UnsupportedError, match=r"2 inputs; edgekd reads models with exactly "
                                               r"one input"):
        load_onnx(path)
