"""ONNX models for the ONNX front-end tests: torch exports, onnxruntime QDQ quantizations
of them, and small hand-built graphs for the cases exporters rarely write."""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from edgekd.data import load_dataset
from edgekd.ir import Graph
from edgekd.zoo import DigitsCNN


@functools.lru_cache(maxsize=None)
def digits():
    return load_dataset("digits")


@functools.lru_cache(maxsize=None)
def trained_digits_cnn() -> nn.Module:
    """DigitsCNN (width 8) trained for about a second on digits (~97 % test accuracy), so
    that argmax agreement measures something."""
    torch.manual_seed(0)
    model = DigitsCNN(width=8)
    data = digits()
    x, y = torch.from_numpy(data.train.x), torch.from_numpy(data.train.y)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: threads cost far more than they give
    try:
        for _ in range(6):
            for batch in torch.randperm(len(x)).split(64):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


class ResidualNet(nn.Module):
    """Depthwise conv + ReLU6 (Clip(0, 6)), a residual add, average pooling, flattening a 4x4
    map (x.reshape(x.size(0), -1): a Shape -> Gather -> Concat chain feeding Reshape) and a
    softmax; no BatchNorm, so its ONNX export holds the very weights torch has."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.c2 = nn.Conv2d(8, 8, 1)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = self.c2(nn.functional.relu6(self.dw(x))) + x
        x = self.pool(x)
        return torch.softmax(self.fc(x.reshape(x.size(0), -1)), dim=-1)


def residual_net() -> nn.Module:
    torch.manual_seed(1)
    return ResidualNet().eval()


def export_torch(model: nn.Module, path: Path, opset: int = 17,
                 dynamic_batch: bool = True) -> Path:
    """torch.onnx.export with the legacy (TorchScript) exporter: no extra packages."""
    axes = {"input": {0: "batch"}, "output": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False,
                          opset_version=opset, input_names=["input"], output_names=["output"],
                          dynamic_axes=axes)
    return path


def quantize_with_onnxruntime(float_path: Path, path: Path, per_channel: bool = True,
                              activations: str = "QInt8", weights: str = "QInt8",
                              samples: int = 200) -> Path:
    """onnxruntime's quantize_static (QDQ) calibrated on the digits training split."""
    from onnxruntime.quantization import (
        CalibrationDataReader, QuantFormat, QuantType, quantize_static,
    )

    class DigitsReader(CalibrationDataReader):
        def __init__(self) -> None:
            x = digits().train.x[:samples]
            self.batches = iter({"input": x[i:i + 1]} for i in range(len(x)))

        def get_next(self):
            return next(self.batches, None)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(str(float_path), str(path), DigitsReader(),
                        quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=getattr(QuantType, activations),
                        weight_type=getattr(QuantType, weights))
    return path


def run_onnxruntime(model: Path | bytes, x: np.ndarray) -> np.ndarray:
    """The model's first output for each sample of x (run one at a time: exports without
    a dynamic batch take batch 1)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        model if isinstance(model, bytes) else str(model), options,
        providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def quantize_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    """NCHW float samples -> the graph's int8 NHWC input codes (TFLite rounding)."""
    q = graph.tensor(graph.inputs[0]).quant
    nhwc = x.transpose(0, 2, 3, 1) if x.ndim == 4 else x
    scaled = nhwc.astype(np.float32) / np.float32(q.scale[0])
    rounded = np.trunc(scaled) + np.where(np.abs(scaled - np.trunc(scaled)) >= 0.5,
                                          np.sign(scaled), 0)
    return np.clip(rounded + q.zero_point[0], -128, 127).astype(np.int8)


def run_reference(graph: Graph, samples: np.ndarray) -> np.ndarray:
    from edgekd.interpreter import run

    return np.concatenate([run(graph, sample[None])[0] for sample in samples])


def dequantize_output(graph: Graph, codes: np.ndarray) -> np.ndarray:
    q = graph.tensor(graph.outputs[0]).quant
    return (codes.astype(np.float64) - q.zero_point[0]) * q.scale[0]


# --- hand-built graphs ---------------------------------------------------------------------


class GraphBuilder:
    """A small ONNX graph put together node by node (names are the values they compute)."""

    def __init__(self, input_shape=(1, 1, 8, 8), input_type=TensorProto.FLOAT,
                 opset: int = 17) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self.opset = opset
        self.input = helper.make_tensor_value_info("input", input_type,
                                                   ["N", *input_shape[1:]])

    def constant(self, name: str, array) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=f"{output}_node",
                                           **attrs))
        return output

    def quantize(self, value: str, scale: float, zero_point: int, dtype=np.int8) -> str:
        """Q -> DQ of an activation; returns the dequantized value."""
        s = self.constant(f"{value}_s", np.float32(scale))
        z = self.constant(f"{value}_z", np.array(zero_point, dtype=dtype))
        q = self.node("QuantizeLinear", [value, s, z], f"{value}_q")
        return self.node("DequantizeLinear", [q, s, z], f"{value}_dq")

    def quantized_constant(self, name: str, codes: np.ndarray, scale, zero_point,
                           axis: int = 0) -> str:
        c = self.constant(f"{name}_codes", codes)
        s = self.constant(f"{name}_s", np.asarray(scale, dtype=np.float32))
        z = self.constant(f"{name}_z", np.asarray(zero_point, dtype=codes.dtype))
        return self.node("DequantizeLinear", [c, s, z], name, axis=axis)

    def model(self, outputs: list[str], output_type=TensorProto.FLOAT) -> bytes:
        graph = helper.make_graph(
            self.nodes, "hand_built", [self.input],
            [helper.make_tensor_value_info(o, output_type, None) for o in outputs],
            self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8
        model = onnx.shape_inference.infer_shapes(model)  # fills in the output shapes
        onnx.checker.check_model(model)
        return model.SerializeToString()


def assert_equivalent(a: Graph, b: Graph) -> None:
    """The same computation, tensor names aside: ops, attributes, shapes, dtypes,
    quantization parameters and constant bytes, node by node and at the inputs/outputs."""
    def same_tensor(ta, tb) -> None:
        assert (ta is None) == (tb is None)
        if ta is None:
            return
        assert (ta.shape, ta.dtype) == (tb.shape, tb.dtype), (ta.name, tb.name)
        assert (ta.quant is None) == (tb.quant is None), ta.name
        if ta.quant is not None:
            assert ta.quant.axis == tb.quant.axis, ta.name
            assert np.array_equal(ta.quant.scale, tb.quant.scale), ta.name
            assert np.array_equal(ta.quant.zero_point, tb.quant.zero_point), ta.name
        assert (ta.data is None) == (tb.data is None), ta.name
        if ta.data is not None:
            assert ta.data.tobytes() == tb.data.tobytes(), ta.name

    assert len(a.nodes) == len(b.nodes)
    for na, nb in zip(a.nodes, b.nodes):
        assert (na.op, na.attrs) == (nb.op, nb.attrs), (na.name, nb.name)
        for ta, tb in zip([*a.node_inputs(na), *a.node_outputs(na)],
                          [*b.node_inputs(nb), *b.node_outputs(nb)]):
            same_tensor(ta, tb)
    for names_a, names_b in ((a.inputs, b.inputs), (a.outputs, b.outputs)):
        assert len(names_a) == len(names_b)
        for x, y in zip(names_a, names_b):
            same_tensor(a.tensor(x), b.tensor(y))
