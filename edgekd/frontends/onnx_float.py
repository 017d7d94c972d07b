"""Float ONNX models -> the torch front end's ``TracedModel``, quantized by edgekd's PTQ.

Each supported node becomes the ``Layer`` the torch tracer would have made for the same
network: Conv -> ``nn.Conv2d`` (+ a following BatchNormalization as ``nn.BatchNorm2d``),
Gemm / MatMul (+ Add of a constant) -> ``nn.Linear``, Relu/Clip fused into the layer before,
pools, residual Add, Mul and Sub (broadcasting), ReduceMean, Sigmoid, Tanh, HardSwish,
LeakyRelu, HardSigmoid (torch's), Flatten/Reshape to (N, -1) and a final Softmax. The modules hold the
file's weights, so ``edgekd.quant`` calibrates, quantizes and converts an ONNX model exactly
as it does a torch one (edgekd/quant/onnx.py): one quantizer for both front ends.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from edgekd.errors import EdgeKDError
from edgekd.frontends.nchw import columns_hwc_to_chw
from edgekd.frontends.onnx_model import (
    OnnxModel, OnnxNode, clip_activation, pool_kernel, window_of,
)
from edgekd.frontends.torch_fx import Layer, TracedModel, mean_refusal

_FUSES_ACTIVATION = ("conv", "linear", "max_pool", "avg_pool", "add", "mul", "sub")
# Elementwise activations that are layers of their own, by ONNX op.
_ACTIVATIONS = {"Sigmoid": "LOGISTIC", "Tanh": "TANH", "HardSwish": "HARD_SWISH",
                "LeakyRelu": "LEAKY_RELU", "HardSigmoid": "HARD_SIGMOID"}
_PASSTHROUGH = ("Identity", "Dropout")


def calibration_inputs(model: OnnxModel, calib) -> np.ndarray:
    """Calibration inputs as a float32 array shaped like the model's input."""
    from edgekd.data import Dataset, Split, load_dataset

    if isinstance(calib, (str, bytes)) or hasattr(calib, "__fspath__"):
        calib = load_dataset(str(calib))
    if isinstance(calib, Dataset):
        calib = calib.train
    if isinstance(calib, Split):
        calib = calib.x
    if isinstance(calib, torch.Tensor):
        calib = calib.detach().cpu().numpy()
    try:
        data = np.asarray(calib, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise EdgeKDError(f"{model.label}: calibration data is not an array of numbers "
                          f"({error})") from None
    expected = model.shapes[model.input][1:]
    if data.ndim != len(expected) + 1 or tuple(data.shape[1:]) != tuple(expected):
        raise EdgeKDError(f"{model.label}: calibration data of shape {list(data.shape)} does "
                          f"not fit the input {model.input!r} [N, "
                          f"{', '.join(map(str, expected))}]")
    if len(data) == 0:
        raise EdgeKDError(f"{model.label}: no calibration data")
    if not np.isfinite(data).all():
        raise EdgeKDError(f"{model.label}: the calibration data holds NaN or infinite values")
    return data


def trace_onnx(model: OnnxModel) -> TracedModel:
    """The fused layers of a float ONNX model, with torch modules holding its weights."""
    return _Builder(model).build()


def _torch_output_size(size: int, pad: int, kernel: int, dilation: int, stride: int,
                       ceil_mode: bool) -> int:
    """Output extent of torch's conv/pool with symmetric padding ``pad`` on both sides."""
    span = size + 2 * pad - (kernel - 1) * dilation - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1  # the last window must start inside the input or the leading padding
    return out


class _Builder:
    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self.value: dict[str, str] = {model.input: model.input}  # ONNX value -> traced value
        self.producer: dict[str, Layer] = {}
        self.layers: list[Layer] = []
        self.shapes: dict[str, tuple[int, ...]] = {model.input: model.shapes[model.input]}
        self.nhwc_views: dict[str, str] = {}  # Transpose(0,2,3,1) output -> its source value

    def refuse(self, node: OnnxNode, why: str):
        return self.model.refuse(node, why)

    def parameter(self, node: OnnxNode, array: np.ndarray, what: str) -> nn.Parameter:
        """A float32 parameter (a writable copy), refused unless finite."""
        values = np.array(array, dtype=np.float32)
        if not np.isfinite(values).all():
            raise self.refuse(node, f"{what} hold NaN or infinite values")
        return nn.Parameter(torch.from_numpy(values))

    def build(self) -> TracedModel:
        import onnx

        if self.model.input_type != onnx.TensorProto.FLOAT:
            raise EdgeKDError(f"{self.model.label}: a float model needs a float32 input; "
                              f"{self.model.input!r} is not")
        for node in self.model.nodes:
            self.visit(node)
        outputs = []
        for name in self.model.outputs:
            if name not in self.value or self.value[name] == self.model.input:
                raise EdgeKDError(f"{self.model.label}: output {name!r} is not computed by a "
                                  "supported layer")
            outputs.append(self.value[name])
        if not self.layers:
            raise EdgeKDError(f"{self.model.label}: the model computes nothing to quantize")
        return TracedModel(self.model.name, self.model.input, self.layers, outputs, self.shapes)

    # -- helpers ---------------------------------------------------------------------------

    def input_value(self, node: OnnxNode, index: int = 0) -> str:
        name = node.inputs[index] if index < len(node.inputs) else ""
        if name in self.nhwc_views:
            raise self.refuse(node, "a Transpose to NHWC may only feed a Flatten or Reshape")
        if name not in self.value:
            what = "a constant" if name in self.model.constants else "not computed by a " \
                                                                      "supported layer"
            raise self.refuse(node, f"input {index} ({name!r}) is {what}")
        return self.value[name]

    def add_layer(self, node: OnnxNode, layer: Layer) -> None:
        output = node.outputs[0]
        self.layers.append(layer)
        self.producer[output] = layer
        self.value[output] = output
        self.shapes[output] = self.model.shape(node, output)

    def consumers(self, value: str) -> list[OnnxNode]:
        """Nodes reading the value, looking through Identity/Dropout."""
        found = []
        for user in self.model.consumers.get(value, []):
            if user.op in _PASSTHROUGH:
                found.extend(self.consumers(user.outputs[0]))
            else:
                found.append(user)
        return found

    def value_users(self, traced_value: str) -> int:
        """How many nodes and graph outputs read a traced value (through passthroughs)."""
        names = [name for name, v in self.value.items() if v == traced_value]
        direct = [n for name in names for n in self.model.consumers.get(name, [])
                  if n.op not in _PASSTHROUGH]
        outputs = [name for name in names if name in self.model.outputs]
        return len(direct) + len(outputs)

    def fuse_into_producer(self, node: OnnxNode, what: str, kinds: tuple[str, ...]) -> Layer:
        value = self.input_value(node)
        layer = self.producer.get(value)
        if layer is None or layer.kind not in kinds or layer.output != value:
            follows = "the model input" if value == self.model.input else (
                f"a {layer.kind} layer" if layer else "a value")
            raise self.refuse(node, f"{what} must follow one of: {', '.join(kinds)}; it "
                                    f"follows {follows}")
        if layer.activation != "NONE":
            raise self.refuse(node, f"{what} after an already fused {layer.activation}")
        if self.value_users(value) != 1:
            raise self.refuse(node, f"{what} cannot be fused: the output of {layer.name!r} is "
                                    "also used elsewhere")
        output = node.outputs[0]
        del self.producer[value]
        layer.output = output
        self.producer[output] = layer
        self.value[output] = output
        self.shapes[output] = self.model.shape(node, output)
        return layer

    # -- per-node handlers -------------------------------------------------------------------

    def visit(self, node: OnnxNode) -> None:
        handler = getattr(self, f"visit_{node.op.lower()}", None)
        if node.op in _PASSTHROUGH:
            if node.op == "Dropout" and len(node.outputs) > 1 and node.outputs[1] \
                    and self.model.consumers.get(node.outputs[1]):
                raise self.refuse(node, "Dropout's mask output is used")
            self.value[node.outputs[0]] = self.input_value(node)
        elif node.op in ("Relu", "Clip"):
            activation = clip_activation(self.model, node)
            self.fuse_into_producer(node, node.op, _FUSES_ACTIVATION).activation = activation
        elif node.op in _ACTIVATIONS:
            op = _ACTIVATIONS[node.op]
            attrs = {"alpha": float(node.attrs.get("alpha", 0.01))} if op == "LEAKY_RELU" else {}
            if op == "HARD_SIGMOID" and (abs(float(node.attrs.get("alpha", 0.2)) - 1 / 6) > 1e-6
                                         or float(node.attrs.get("beta", 0.5)) != 0.5):
                raise self.refuse(node, "HardSigmoid other than torch's (alpha 1/6, beta 1/2)")
            self.add_layer(node, Layer("activation", node.name, [self.input_value(node)],
                                       node.outputs[0], self.model.describe(node),
                                       attrs={"op": op, **attrs}))
        elif handler is not None:
            handler(node)
        else:
            raise self.refuse(node, "unsupported op on computed data in a float model "
                                    "(shape ops are supported on constants only)")

    def visit_conv(self, node: OnnxNode) -> None:
        x = self.input_value(node)
        weight = self.model.constant(node, 1, "Conv weights")
        bias = self.model.constant(node, 2, "Conv bias")
        in_shape, out_shape = self.shapes[x], self.model.shape(node, node.outputs[0])
        if len(in_shape) != 4 or weight.ndim != 4:
            raise self.refuse(node, f"Conv on a {len(in_shape)}-D input with {weight.ndim}-D "
                                    "weights (only 2-D convolution)")
        out_c, in_per_group, kh, kw = weight.shape
        groups = int(node.attrs.get("group", 1))
        in_c = in_shape[1]
        depthwise = groups > 1
        if groups < 1 or depthwise and not (groups == in_c and in_per_group == 1
                                            and out_c % in_c == 0):
            raise self.refuse(node, f"grouped convolution with group={groups} (only 1 or the "
                                    f"{in_c} input channels)")
        if bias is not None and bias.shape != (out_c,):
            raise self.refuse(node, f"bias of shape {bias.shape}, expected ({out_c},)")
        window = window_of(self.model, node, in_shape[2:], out_shape[2:], (kh, kw))
        padding = self.torch_padding(node, window, in_shape[2:], out_shape[2:], conv=True)
        conv = nn.Conv2d(in_c, out_c, (kh, kw), window.stride, padding, window.dilation,
                         groups, bias=bias is not None)
        conv.weight = self.parameter(node, weight, "weights")
        if bias is not None:
            conv.bias = self.parameter(node, bias, "biases")
        attrs = {"stride": window.stride, "dilation": window.dilation,
                 "padding": window.padding, "depthwise": depthwise,
                 "depth_multiplier": out_c // in_c if depthwise else 1}
        self.add_layer(node, Layer("conv", node.name, [x], node.outputs[0],
                                   self.model.describe(node), module=conv, attrs=attrs))

    def torch_padding(self, node: OnnxNode, window, in_hw, out_hw, conv: bool,
                      ceil_mode: bool = False):
        """Symmetric padding for torch computing the same windows, or 'same' (stride 1)."""
        leading = window.leading
        torch_out = tuple(_torch_output_size(i, p, k, d, s, ceil_mode)
                          for i, p, k, d, s in zip(in_hw, leading, window.kernel,
                                                   window.dilation, window.stride))
        if torch_out == tuple(out_hw):
            return leading
        if conv and window.padding == "SAME" and window.stride == (1, 1):
            return "same"  # torch pads the odd extra row/column at the end, as TFLite
        raise self.refuse(node, f"output {tuple(out_hw)} needs more padding after than before "
                                f"(or ceil_mode); torch's symmetric padding {leading} gives "
                                f"{torch_out} (pad symmetrically, or quantize to QDQ with "
                                "onnxruntime)")

    def visit_batchnormalization(self, node: OnnxNode) -> None:
        if int(node.attrs.get("training_mode", 0)) or len([o for o in node.outputs if o]) > 1:
            raise self.refuse(node, "BatchNormalization in training mode")
        scale, bias, mean, var = (self.model.constant(node, i, what) for i, what in
                                  enumerate(("scale", "B", "mean", "var"), start=1))
        layer = self.fuse_into_producer(node, "BatchNormalization", ("conv",))
        if layer.batchnorm is not None:
            raise self.refuse(node, "two BatchNormalization after one Conv")
        channels = layer.module.out_channels
        if any(a is None or a.shape != (channels,) for a in (scale, bias, mean, var)):
            raise self.refuse(node, f"expected scale, B, mean and var of shape ({channels},)")
        epsilon = float(node.attrs.get("epsilon", 1e-5))
        if not (np.isfinite(epsilon) and (var.astype(np.float64) + epsilon > 0).all()):
            raise self.refuse(node, "var + epsilon must be positive")
        bn = nn.BatchNorm2d(channels, eps=epsilon).eval()
        bn.weight = self.parameter(node, scale, "scales")
        bn.bias = self.parameter(node, bias, "biases")
        bn.running_mean.copy_(self.parameter(node, mean, "means").data)
        bn.running_var.copy_(self.parameter(node, var, "variances").data)
        layer.batchnorm = bn

    def visit_gemm(self, node: OnnxNode) -> None:
        if int(node.attrs.get("transA", 0)):
            raise self.refuse(node, "Gemm with transA=1")
        weight = self.model.constant(node, 1, "Gemm B (weights)")
        if weight.ndim != 2:
            raise self.refuse(node, f"weights of shape {weight.shape}, expected 2-D")
        weight = weight if int(node.attrs.get("transB", 0)) else weight.T
        weight = weight * float(node.attrs.get("alpha", 1.0))
        bias = self.model.constant(node, 2, "Gemm C (bias)")
        if bias is not None:
            if bias.size not in (1, weight.shape[0]):
                raise self.refuse(node, f"bias of shape {bias.shape} for {weight.shape[0]} "
                                        "outputs")
            bias = np.broadcast_to(bias.reshape(-1), (weight.shape[0],)) * \
                float(node.attrs.get("beta", 1.0))
        self.add_linear(node, weight, bias)

    def visit_matmul(self, node: OnnxNode) -> None:
        weight = self.model.constant(node, 1, "MatMul B (weights)")
        if weight.ndim != 2:
            raise self.refuse(node, f"weights of shape {weight.shape}, expected 2-D")
        self.add_linear(node, weight.T, None)

    def add_linear(self, node: OnnxNode, weight: np.ndarray, bias: np.ndarray | None) -> None:
        """nn.Linear over a (N, features) input; weight [out, in] in ONNX's column order."""
        x = self.input_value(node)
        if len(self.shapes[x]) != 2 or self.shapes[x][1] != weight.shape[1]:
            raise self.refuse(node, f"a fully connected layer on {self.shapes[x]} with "
                                    f"weights {weight.shape[::-1]} (flatten to (N, "
                                    f"{weight.shape[1]}) first)")
        source = self.producer.get(x)
        chw = source.attrs["chw"] if source is not None and source.kind == "flatten" else None
        if source is not None and source.attrs.get("nhwc_order"):
            # The file flattened NHWC; torch flattens NCHW: reorder the columns so torch
            # computes the file's function (convert reorders them back for the IR).
            weight = columns_hwc_to_chw(weight, chw)
        if chw is not None and chw[1] * chw[2] == 1:
            chw = None
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        linear.weight = self.parameter(node, weight, "weights")
        if bias is not None:
            linear.bias = self.parameter(node, bias, "biases")
        self.add_layer(node, Layer("linear", node.name, [x], node.outputs[0],
                                   self.model.describe(node), module=linear,
                                   attrs={"chw": chw}))

    def visit_add(self, node: OnnxNode) -> None:
        constants = [name in self.model.constants for name in node.inputs]
        if constants.count(True) == 1:
            self.add_bias(node, constants.index(True))
            return
        self.add_binary(node, "add")

    def visit_mul(self, node: OnnxNode) -> None:
        self.add_binary(node, "mul")

    def visit_sub(self, node: OnnxNode) -> None:
        self.add_binary(node, "sub")

    def add_binary(self, node: OnnxNode, kind: str) -> None:
        """Mul, Sub or Add of two computed values of one rank (2-D or 4-D), broadcasting."""
        x, y = self.input_value(node, 0), self.input_value(node, 1)
        if len(self.shapes[x]) != len(self.shapes[y]) or len(self.shapes[x]) not in (2, 4):
            raise self.refuse(node, f"{node.op} of shapes {self.shapes[x]} and "
                                    f"{self.shapes[y]} (both 2-D or both 4-D)")
        self.add_layer(node, Layer(kind, node.name, [x, y], node.outputs[0],
                                   self.model.describe(node)))

    def visit_reducemean(self, node: OnnxNode) -> None:
        x = self.input_value(node)
        rank = len(self.shapes[x])
        axes = node.attrs.get("axes")
        if axes is None and len(node.inputs) > 1 and node.inputs[1]:
            axes = self.model.constants.get(node.inputs[1])
            if axes is None:
                raise self.refuse(node, "ReduceMean axes must be a constant")
        if axes is None:
            raise self.refuse(node, "ReduceMean over all axes (the batch included)")
        dims = tuple(sorted({int(a) % rank for a in np.asarray(axes).reshape(-1)}))
        keepdim = bool(node.attrs.get("keepdims", 1))
        if (why := mean_refusal(dims, rank, keepdim)) is not None:
            raise self.refuse(node, why)
        self.add_layer(node, Layer("mean", node.name, [x], node.outputs[0],
                                   self.model.describe(node),
                                   attrs={"dims": dims, "keepdim": keepdim}))

    def add_bias(self, node: OnnxNode, constant_index: int) -> None:
        """MatMul + Add(constant): the Add is the Linear's bias."""
        data_index = 1 - constant_index
        source = node.inputs[data_index]
        layer = self.producer.get(self.value.get(source, ""))
        bias = self.model.constants[node.inputs[constant_index]]
        if layer is None or layer.kind != "linear" or layer.module.bias is not None \
                or layer.activation != "NONE":
            raise self.refuse(node, "Add of a constant is supported only as the bias of a "
                                    "MatMul")
        out = layer.module.out_features
        if bias.size not in (1, out) or (bias.ndim > 1 and bias.shape[-1] != bias.size):
            raise self.refuse(node, f"bias of shape {bias.shape} for {out} outputs")
        node_view = OnnxNode(node.op, node.name, [source], node.outputs, node.attrs)
        layer = self.fuse_into_producer(node_view, "bias Add", ("linear",))
        layer.module.bias = self.parameter(node, np.broadcast_to(bias.reshape(-1), (out,)),
                                           "biases")

    def visit_maxpool(self, node: OnnxNode) -> None:
        self.add_pool(node, "max_pool")

    def visit_averagepool(self, node: OnnxNode) -> None:
        self.add_pool(node, "avg_pool")

    def visit_globalaveragepool(self, node: OnnxNode) -> None:
        self.add_pool(node, "avg_pool")

    def add_pool(self, node: OnnxNode, kind: str) -> None:
        x = self.input_value(node)
        in_shape, out_shape = self.shapes[x], self.model.shape(node, node.outputs[0])
        if len(in_shape) != 4:
            raise self.refuse(node, f"pooling a {len(in_shape)}-D tensor")
        kernel = pool_kernel(self.model, node, in_shape[2:])
        if node.op == "GlobalAveragePool":
            node = OnnxNode(node.op, node.name, node.inputs, node.outputs, {"strides": kernel})
        window = window_of(self.model, node, in_shape[2:], out_shape[2:], kernel)
        ceil_mode = bool(int(node.attrs.get("ceil_mode", 0)))
        torch_padding = self.torch_padding(node, window, in_shape[2:], out_shape[2:],
                                           conv=False, ceil_mode=ceil_mode)
        if any(2 * p > k for p, k in zip(torch_padding, kernel)):
            raise self.refuse(node, f"padding {torch_padding} larger than half the window")
        attrs = {"filter": kernel, "stride": window.stride, "padding": window.padding,
                 "torch_padding": torch_padding, "ceil_mode": ceil_mode}
        self.add_layer(node, Layer(kind, node.name, [x], node.outputs[0],
                                   self.model.describe(node), attrs=attrs))

    def visit_transpose(self, node: OnnxNode) -> None:
        x = self.input_value(node)
        perm = tuple(int(p) for p in node.attrs.get("perm", ()))
        users = self.consumers(node.outputs[0])
        if perm != (0, 2, 3, 1) or len(self.shapes[x]) != 4 or not users or any(
                u.op not in ("Flatten", "Reshape") for u in users):
            raise self.refuse(node, f"Transpose {perm}: only (0, 2, 3, 1) feeding a Flatten "
                                    "or Reshape to (N, -1) is supported")
        self.nhwc_views[node.outputs[0]] = x

    def visit_flatten(self, node: OnnxNode) -> None:
        self.add_flatten(node)

    def visit_reshape(self, node: OnnxNode) -> None:
        self.add_flatten(node)

    def add_flatten(self, node: OnnxNode) -> None:
        nhwc = node.inputs[0] in self.nhwc_views
        x = self.nhwc_views[node.inputs[0]] if nhwc else self.input_value(node)
        in_shape, out_shape = self.shapes[x], self.model.shape(node, node.outputs[0])
        if len(out_shape) != 2 or out_shape[0] != in_shape[0] or \
                out_shape[1] != math.prod(in_shape[1:]):
            raise self.refuse(node, f"reshape {in_shape} -> {out_shape} (only flattening to "
                                    "(N, -1) is supported)")
        if len(in_shape) == 2:
            self.value[node.outputs[0]] = x
            return
        if len(in_shape) != 4:
            raise self.refuse(node, f"flattening a {len(in_shape)}-D tensor")
        chw = tuple(in_shape[1:])
        if chw[0] > 1 and chw[1] * chw[2] > 1 and not nhwc:
            # NCHW and NHWC flatten in different orders: only a fully connected layer can
            # absorb that, by permuting its weight columns.
            users = self.consumers(node.outputs[0])
            if node.outputs[0] in self.model.outputs or any(
                    user.op not in ("Gemm", "MatMul") for user in users):
                raise self.refuse(node, f"flattening a {chw[1]}x{chw[2]} map whose result "
                                        "is used other than by a Gemm or MatMul: NHWC and "
                                        "NCHW flatten orders differ")
        self.add_layer(node, Layer("flatten", node.name, [x], node.outputs[0],
                                   self.model.describe(node),
                                   attrs={"chw": chw, "nhwc_order": nhwc}))

    def visit_softmax(self, node: OnnxNode) -> None:
        x = self.input_value(node)
        shape = self.shapes[x]
        axis = int(node.attrs.get("axis", -1))
        if len(shape) != 2 or axis not in (1, -1):
            raise self.refuse(node, f"Softmax over axis {axis} of {shape} (only the last axis "
                                    "of (N, classes))")
        self.add_layer(node, Layer("softmax", node.name, [x], node.outputs[0],
                                   self.model.describe(node)))
