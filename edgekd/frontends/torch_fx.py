"""PyTorch front end: trace an ``nn.Module`` with torch.fx into fused layers.

``trace(model, example_input)`` walks the fx graph once and groups nodes into the layers the
int8 path computes as one op: Conv2d [+ BatchNorm2d] [+ ReLU/ReLU6], Linear [+ ReLU/ReLU6],
pooling, residual add, flatten and a final softmax. Dropout and Identity vanish. Anything
else is refused with an UnsupportedError naming the fx node, its module path and the line
of the user's source that created it.

The traced layers keep references to the model's own modules, so ``quant/`` can run them
in torch (calibration, QAT) and write the IR from exactly the weights it ran. The layout
helpers at the bottom turn torch's NCHW tensors and weights into the IR's NHWC tensors and
TFLite weight layouts.
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from edgekd.errors import UnsupportedError
from edgekd.shapes import conv_output_size, same_padding

SUPPORTED = (
    "Conv2d (groups 1 or depthwise)", "BatchNorm2d after a Conv2d",
    "ReLU/ReLU6/Hardtanh(0, 6) after a conv, linear, add or pool", "Linear", "MaxPool2d",
    "AvgPool2d", "AdaptiveAvgPool2d(1)", "add (+, torch.add)", "flatten/view/reshape to (N, -1)",
    "Dropout/Identity", "softmax over the last dimension of (N, classes)",
    "Sigmoid", "Tanh", "Hardswish", "Hardsigmoid", "LeakyReLU",
    "mul and sub of tensors (broadcasting, same "
    "rank)", "mean over dims (keepdim either way)",
)

# Layer kinds, in IR terms: conv -> CONV_2D or DEPTHWISE_CONV_2D, linear -> FULLY_CONNECTED,
# max_pool/avg_pool -> MAX_POOL_2D/AVERAGE_POOL_2D, add -> ADD, flatten -> RESHAPE,
# softmax -> SOFTMAX, mul/sub -> MUL/SUB, mean -> MEAN, activation -> the IR op in
# attrs["op"] (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU).
LAYER_KINDS = ("conv", "linear", "max_pool", "avg_pool", "add", "flatten", "softmax", "mul",
               "sub", "mean", "activation")
_FUSES_ACTIVATION = ("conv", "linear", "max_pool", "avg_pool", "add", "mul", "sub")


@dataclass
class Layer:
    """One fused op. ``inputs``/``output`` name values (fx node names); ``name`` is the
    module path or fx node name of the op's first node.

    attrs by kind:
      conv:      stride, dilation, padding ("SAME"|"VALID"), depthwise (bool), depth_multiplier
      max_pool, avg_pool: filter, stride, padding, torch_padding (h, w), ceil_mode
      flatten:   chw: (C, H, W) of a flattened 4-D input, or None for a 2-D input
      linear:    chw: (C, H, W) when the input is a flattened NCHW map with H*W > 1 (the IR
                 flattens NHWC, so the weight columns get permuted), else None
      mean:      dims (torch's, non-negative), keepdim
      activation: op (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU), alpha (LEAKY_RELU)
    """

    kind: str
    name: str
    inputs: list[str]
    output: str
    location: str
    module: nn.Module | None = None  # the Conv2d or Linear
    batchnorm: nn.BatchNorm2d | None = None  # folded into the conv
    activation: str = "NONE"
    attrs: dict = field(default_factory=dict)


@dataclass
class TracedModel:
    """Fused layers in execution order over values named by fx nodes; ``shapes`` holds the
    torch shape of each value as traced (batch first, NCHW for images)."""

    name: str
    input: str
    layers: list[Layer]
    outputs: list[str]
    shapes: dict[str, tuple[int, ...]]

    def ir_shape(self, value: str) -> tuple[int, ...]:
        """The IR (batch 1, NHWC) shape of a value."""
        return ir_shape(self.shapes[value])


def trace(model: nn.Module, example_input: torch.Tensor) -> TracedModel:
    """Trace ``model`` (its modules are shared, not copied) on an example batch."""
    return _Builder(model, example_input).build()


# --- node classification ---------------------------------------------------------------

_PASSTHROUGH_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)
_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
_ADD_METHODS = ("add", "add_")
_RELU_FUNCTIONS = (F.relu, F.relu_, torch.relu, torch.relu_)
_RELU_METHODS = ("relu", "relu_")
_FLATTEN_FUNCTIONS = (torch.flatten, torch.reshape)
_FLATTEN_METHODS = ("flatten", "view", "reshape")
_SOFTMAX_FUNCTIONS = (F.softmax, torch.softmax)
_MUL_FUNCTIONS = (operator.mul, operator.imul, torch.mul)
_SUB_FUNCTIONS = (operator.sub, operator.isub, torch.sub)
_MEAN_FUNCTIONS = (torch.mean,)
# Elementwise activations that are layers of their own: IR op by module and by function.
# HARD_SIGMOID is no IR op: convert writes it as TFLite's converter does (quant/layers.py).
_ACTIVATION_MODULES = ((nn.Sigmoid, "LOGISTIC"), (nn.Tanh, "TANH"),
                       (nn.Hardswish, "HARD_SWISH"), (nn.LeakyReLU, "LEAKY_RELU"),
                       (nn.Hardsigmoid, "HARD_SIGMOID"))
_ACTIVATION_FUNCTIONS = {torch.sigmoid: "LOGISTIC", F.sigmoid: "LOGISTIC",
                         torch.tanh: "TANH", F.tanh: "TANH", F.hardswish: "HARD_SWISH",
                         F.leaky_relu: "LEAKY_RELU", F.hardsigmoid: "HARD_SIGMOID"}
_ACTIVATION_METHODS = {"sigmoid": "LOGISTIC", "tanh": "TANH"}
_SHAPE_METHODS = ("size", "dim")  # their results feed view/reshape arguments, not data


def _arg(node: fx.Node, index: int, name: str, default=None):
    """A call argument given either positionally or by keyword."""
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _hardtanh_activation(low: float, high: float) -> str | None:
    return "RELU6" if (low, high) == (0.0, 6.0) else None


def _activation_of(node: fx.Node, module: nn.Module | None) -> str | None:
    """RELU/RELU6 if the node is a fusable activation, else None."""
    if module is not None:
        if isinstance(module, nn.ReLU):
            return "RELU"
        if isinstance(module, nn.ReLU6):
            return "RELU6"
        if isinstance(module, nn.Hardtanh):
            return _hardtanh_activation(module.min_val, module.max_val)
        return None
    if node.op == "call_function":
        if node.target in _RELU_FUNCTIONS:
            return "RELU"
        if node.target is F.relu6:
            return "RELU6"
        if node.target in (F.hardtanh, F.hardtanh_):
            return _hardtanh_activation(float(_arg(node, 1, "min_val", -1.0)),
                                        float(_arg(node, 2, "max_val", 1.0)))
    if node.op == "call_method" and node.target in _RELU_METHODS:
        return "RELU"
    return None


def _elementwise_activation(node: fx.Node, module: nn.Module | None) -> tuple[str, dict] | None:
    """(IR op, attrs) if the node is a standalone elementwise activation, else None."""
    if module is not None:
        op = next((op for cls, op in _ACTIVATION_MODULES if isinstance(module, cls)), None)
        attrs = {"alpha": float(module.negative_slope)} if op == "LEAKY_RELU" else {}
        return (op, attrs) if op else None
    if node.op == "call_function" and node.target in _ACTIVATION_FUNCTIONS:
        op = _ACTIVATION_FUNCTIONS[node.target]
        attrs = {"alpha": float(_arg(node, 1, "negative_slope", 0.01))} \
            if op == "LEAKY_RELU" else {}
        return op, attrs
    if node.op == "call_method" and node.target in _ACTIVATION_METHODS:
        return _ACTIVATION_METHODS[node.target], {}
    return None


def _is_passthrough(node: fx.Node, module: nn.Module | None) -> bool:
    if module is not None:
        return isinstance(module, _PASSTHROUGH_MODULES)
    if node.op == "call_function":
        return node.target in (F.dropout, F.dropout2d)
    return node.op == "call_method" and node.target == "contiguous"


def _is_flatten(node: fx.Node, module: nn.Module | None) -> bool:
    if module is not None:
        return isinstance(module, nn.Flatten)
    return (node.op == "call_function" and node.target in _FLATTEN_FUNCTIONS
            or node.op == "call_method" and node.target in _FLATTEN_METHODS)


def _is_tensor(node) -> bool:
    return isinstance(node, fx.Node) and node.meta.get("type") is torch.Tensor


def _callable_name(target) -> str:
    if isinstance(target, str):
        return f"Tensor.{target}"
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    return f"{module}.{name}" if module else name


_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')
_TORCH_DIR = str(Path(torch.__file__).resolve().parent)


def _source_line(node: fx.Node) -> str | None:
    """`file.py:LINE` of the user code that created the node (first frame outside torch)."""
    for match in _FRAME.finditer(node.stack_trace or ""):
        path = match["file"]
        if not str(Path(path).resolve()).startswith(_TORCH_DIR):
            return f"{path}:{match['line']}"
    return None


class _Builder:
    def __init__(self, model: nn.Module, example_input: torch.Tensor) -> None:
        self.model_name = type(model).__name__
        tracer = fx.Tracer()
        tracer.record_stack_traces = True
        try:
            graph = tracer.trace(model)
        except Exception as e:  # TraceError, data-dependent control flow, proxies misused
            raise UnsupportedError(f"{self.model_name}: torch.fx cannot trace the model "
                                   f"({type(e).__name__}: {e})") from None
        self.gm = fx.GraphModule(tracer.root, graph)
        was_training = model.training
        model.eval()  # shape propagation must not touch BatchNorm running statistics
        try:
            with torch.no_grad():
                ShapeProp(self.gm).propagate(example_input)
        except Exception as e:
            raise UnsupportedError(f"{self.model_name}: running the traced model on an input "
                                   f"of shape {tuple(example_input.shape)} failed: {e}") from None
        finally:
            model.train(was_training)
        self.value: dict[fx.Node, str] = {}  # tensor node -> the value it computes
        self.producer: dict[str, Layer] = {}  # value -> the layer that computes it
        self.origin: dict[str, fx.Node] = {}  # value -> the node computing it (not an alias)
        self.layers: list[Layer] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.input: str | None = None
        self.outputs: list[str] = []

    # -- helpers ---------------------------------------------------------------------------

    def describe(self, node: fx.Node) -> str:
        if node.op == "call_module":
            what = f"module {node.target!r} ({type(self.module(node)).__name__})"
        elif node.op in ("call_function", "call_method"):
            what = f"node {node.name!r} ({_callable_name(node.target)})"
        else:
            what = f"node {node.name!r} ({node.op} {node.target})"
        line = _source_line(node)
        return f"{self.model_name}: {what}" + (f" at {line}" if line else "")

    def refuse(self, node: fx.Node, why: str) -> UnsupportedError:
        return UnsupportedError(f"{self.describe(node)}: {why}; supported: {', '.join(SUPPORTED)}")

    def module(self, node: fx.Node) -> nn.Module | None:
        return self.gm.get_submodule(node.target) if node.op == "call_module" else None

    def shape(self, node: fx.Node) -> tuple[int, ...]:
        return tuple(node.meta["tensor_meta"].shape)

    def tensor_input(self, node: fx.Node, index: int = 0) -> str:
        arg = _arg(node, index, "input")
        if not _is_tensor(arg) or arg not in self.value:
            raise self.refuse(node, f"argument {index} is not a tensor computed by the model")
        return self.value[arg]

    def consumers(self, node: fx.Node) -> list[fx.Node]:
        """Nodes that use the node's value, looking through dropout/identity; calls that only
        read its shape (x.size(0)) do not count."""
        found = []
        for user in node.users:
            if _is_passthrough(user, self.module(user)) or self.is_noop_flatten(user):
                found.extend(self.consumers(user))
            elif user.op == "output" or _is_tensor(user):
                found.append(user)
        return found

    def is_noop_flatten(self, node: fx.Node) -> bool:
        """A flatten/view of a tensor that is already (N, features)."""
        source = _arg(node, 0, "input")
        return (_is_flatten(node, self.module(node)) and _is_tensor(node) and _is_tensor(source)
                and self.shape(node) == self.shape(source))

    def set_value(self, node: fx.Node, value: str) -> None:
        self.value[node] = value
        self.origin[value] = node
        self.shapes[value] = self.shape(node)

    def add_layer(self, node: fx.Node, layer: Layer) -> None:
        self.layers.append(layer)
        self.producer[layer.output] = layer
        self.set_value(node, layer.output)

    def fuse_into_producer(self, node: fx.Node, what: str, kinds: tuple[str, ...]) -> Layer:
        """The layer computing the node's input, checked fit to absorb this node."""
        source = _arg(node, 0, "input")
        value = self.value.get(source)
        layer = self.producer.get(value)
        if layer is None or layer.kind not in kinds:
            producer = "the model input" if value == self.input else (
                f"a {layer.kind} layer" if layer else "a non-tensor value")
            raise self.refuse(node, f"{what} must follow one of: {', '.join(kinds)}; "
                                    f"it follows {producer}")
        if layer.activation != "NONE":
            raise self.refuse(node, f"{what} after an already fused {layer.activation}")
        if len(self.consumers(self.origin[value])) != 1:
            raise self.refuse(node, f"{what} cannot be fused: the output of {layer.name!r} is "
                                    "also used elsewhere")
        # The fused layer now produces this node's value instead of its own.
        del self.producer[layer.output]
        layer.output = node.name
        self.producer[node.name] = layer
        self.set_value(node, node.name)
        return layer

    # -- per-node handlers -------------------------------------------------------------------

    def build(self) -> TracedModel:
        for node in self.gm.graph.nodes:
            self.visit(node)
        if self.input is None:
            raise UnsupportedError(f"{self.model_name}: the model takes no input")
        if not self.layers:
            raise UnsupportedError(f"{self.model_name}: the model computes nothing to quantize")
        return TracedModel(self.model_name, self.input, self.layers, self.outputs, self.shapes)

    def visit(self, node: fx.Node) -> None:
        module = self.module(node)
        if node.op == "placeholder":
            self.visit_input(node)
        elif node.op == "output":
            self.visit_output(node)
        elif node.op == "get_attr":
            raise self.refuse(node, "parameters or buffers used outside their module")
        elif node.meta.get("type") is not torch.Tensor:
            if not (node.op == "call_method" and node.target in _SHAPE_METHODS
                    or node.op == "call_function" and node.target in (getattr, operator.getitem)):
                raise self.refuse(node, "unsupported non-tensor computation")
        elif _is_passthrough(node, module):
            self.value[node] = self.tensor_input(node)
        elif (activation := _activation_of(node, module)) is not None:
            self.fuse_into_producer(node, activation, _FUSES_ACTIVATION).activation = activation
        elif isinstance(module, nn.Conv2d):
            self.visit_conv(node, module)
        elif isinstance(module, nn.BatchNorm2d):
            self.visit_batchnorm(node, module)
        elif isinstance(module, nn.Linear):
            self.visit_linear(node, module)
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            self.visit_pool(node, module)
        elif _is_flatten(node, module):
            self.visit_flatten(node)
        elif (node.op == "call_function" and node.target in _ADD_FUNCTIONS) or (
                node.op == "call_method" and node.target in _ADD_METHODS):
            self.visit_add(node)
        elif (activation := _elementwise_activation(node, module)) is not None:
            self.visit_activation(node, *activation)
        elif (node.op == "call_function" and node.target in (*_MUL_FUNCTIONS, *_SUB_FUNCTIONS)
              ) or (node.op == "call_method" and node.target in ("mul", "mul_", "sub", "sub_")):
            self.visit_mul_or_sub(node)
        elif (node.op == "call_function" and node.target in _MEAN_FUNCTIONS) or (
                node.op == "call_method" and node.target == "mean"):
            self.visit_mean(node)
        elif isinstance(module, nn.Softmax) or (
                node.op == "call_function" and node.target in _SOFTMAX_FUNCTIONS) or (
                node.op == "call_method" and node.target == "softmax"):
            self.visit_softmax(node, module)
        elif module is not None:
            raise self.refuse(node, f"unsupported module {type(module).__name__}")
        else:
            raise self.refuse(node, f"unsupported operation {_callable_name(node.target)}")

    def visit_input(self, node: fx.Node) -> None:
        if self.input is not None:
            raise self.refuse(node, "models with more than one input are not supported")
        shape = self.shape(node)
        if len(shape) not in (2, 4):
            raise self.refuse(node, f"input of shape {shape}: expected (N, C, H, W) or (N, F)")
        self.input = node.name
        self.set_value(node, node.name)

    def visit_output(self, node: fx.Node) -> None:
        result = node.args[0]
        results = list(result) if isinstance(result, (tuple, list)) else [result]
        for item in results:
            if not _is_tensor(item) or item not in self.value:
                raise self.refuse(node, "the model must return a tensor or a tuple of tensors")
            self.outputs.append(self.value[item])

    def visit_conv(self, node: fx.Node, conv: nn.Conv2d) -> None:
        x = self.tensor_input(node)
        in_shape, out_shape = self.shapes[x], self.shape(node)
        if conv.padding_mode != "zeros":
            raise self.refuse(node, f"padding_mode {conv.padding_mode!r} (only 'zeros')")
        depthwise = conv.groups > 1
        if depthwise and conv.groups != conv.in_channels:
            raise self.refuse(node, f"grouped convolution with groups={conv.groups} "
                                    f"(only 1 or in_channels={conv.in_channels})")
        torch_padding = conv.padding
        if isinstance(torch_padding, str):  # 'same' pads total // 2 in front, like TFLite
            torch_padding = tuple((k - 1) * d // 2 if torch_padding == "same" else 0
                                  for k, d in zip(conv.kernel_size, conv.dilation))
        padding = self.tflite_padding(node, in_shape[2:], out_shape[2:], conv.kernel_size,
                                      conv.stride, conv.dilation, torch_padding)
        attrs = {"stride": tuple(conv.stride), "dilation": tuple(conv.dilation),
                 "padding": padding, "depthwise": depthwise,
                 "depth_multiplier": conv.out_channels // conv.in_channels if depthwise else 1}
        self.add_layer(node, Layer("conv", str(node.target), [x], node.name, self.describe(node),
                                   module=conv, attrs=attrs))

    def visit_batchnorm(self, node: fx.Node, bn: nn.BatchNorm2d) -> None:
        if bn.running_mean is None or bn.running_var is None:
            raise self.refuse(node, "BatchNorm2d without running statistics cannot be folded")
        layer = self.fuse_into_producer(node, "BatchNorm2d", ("conv",))
        if layer.batchnorm is not None:
            raise self.refuse(node, "two BatchNorm2d after one Conv2d")
        layer.batchnorm = bn

    def visit_linear(self, node: fx.Node, linear: nn.Linear) -> None:
        x = self.tensor_input(node)
        if len(self.shapes[x]) != 2:
            raise self.refuse(node, f"Linear on a {len(self.shapes[x])}-D input "
                                    f"{self.shapes[x]}; flatten to (N, features) first")
        source = self.producer.get(x)
        chw = source.attrs["chw"] if source is not None and source.kind == "flatten" else None
        if chw is not None and chw[1] * chw[2] == 1:
            chw = None  # a 1x1 map flattens the same in NCHW and NHWC
        self.add_layer(node, Layer("linear", str(node.target), [x], node.name,
                                   self.describe(node), module=linear, attrs={"chw": chw}))

    def visit_pool(self, node: fx.Node, pool: nn.Module) -> None:
        x = self.tensor_input(node)
        in_shape, out_shape = self.shapes[x], self.shape(node)
        if len(in_shape) != 4:
            raise self.refuse(node, f"pooling a {len(in_shape)}-D tensor")
        in_hw = in_shape[2:]
        if isinstance(pool, nn.AdaptiveAvgPool2d):
            if tuple(out_shape[2:]) != (1, 1):
                raise self.refuse(node, f"AdaptiveAvgPool2d to {tuple(out_shape[2:])} "
                                        "(only global pooling to 1x1)")
            kernel, stride, torch_padding, ceil_mode = tuple(in_hw), tuple(in_hw), (0, 0), False
        else:
            ceil_mode = pool.ceil_mode
            kernel, stride = _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size)
            torch_padding = _pair(pool.padding)
            if isinstance(pool, nn.MaxPool2d) and (_pair(pool.dilation) != (1, 1)
                                                   or pool.return_indices):
                raise self.refuse(node, "MaxPool2d with dilation or return_indices")
            if isinstance(pool, nn.AvgPool2d):
                if pool.divisor_override is not None:
                    raise self.refuse(node, "AvgPool2d with divisor_override")
                if pool.count_include_pad and torch_padding != (0, 0):
                    raise self.refuse(node, "AvgPool2d counting padded zeros "
                                            "(TFLite averages only real cells: pass "
                                            "count_include_pad=False)")
        padding = self.tflite_padding(node, in_hw, out_shape[2:], kernel, stride, (1, 1),
                                      torch_padding)
        kind = "max_pool" if isinstance(pool, nn.MaxPool2d) else "avg_pool"
        attrs = {"filter": kernel, "stride": stride, "padding": padding,
                 "torch_padding": torch_padding, "ceil_mode": ceil_mode}
        self.add_layer(node, Layer(kind, str(node.target), [x], node.name, self.describe(node),
                                   attrs=attrs))

    def visit_flatten(self, node: fx.Node) -> None:
        x = self.tensor_input(node)
        in_shape, out_shape = self.shapes[x], self.shape(node)
        if len(out_shape) != 2 or out_shape[0] != in_shape[0]:
            raise self.refuse(node, f"reshape {in_shape} -> {out_shape} (only flattening to "
                                    "(N, -1) is supported)")
        if len(in_shape) == 2:
            self.value[node] = x  # already flat
            return
        chw = tuple(in_shape[1:]) if len(in_shape) == 4 else None
        if chw is None:
            raise self.refuse(node, f"flattening a {len(in_shape)}-D tensor")
        if chw[1] * chw[2] > 1:
            # NCHW and NHWC flatten in different orders: only a Linear can absorb that (by
            # permuting its weight columns).
            for user in self.consumers(node):
                if not isinstance(self.module(user), nn.Linear):
                    raise self.refuse(node, f"flattening a {chw[1]}x{chw[2]} map whose result "
                                            f"feeds {user.name!r}, not a Linear: NHWC and "
                                            "NCHW flatten orders differ")
        name = str(node.target) if node.op == "call_module" else node.name
        self.add_layer(node, Layer("flatten", name, [x], node.name, self.describe(node),
                                   attrs={"chw": chw}))

    def visit_add(self, node: fx.Node) -> None:
        self.visit_mul_or_sub(node, "add")

    def visit_activation(self, node: fx.Node, op: str, attrs: dict) -> None:
        x = self.tensor_input(node)
        name = str(node.target) if node.op == "call_module" else node.name
        self.add_layer(node, Layer("activation", name, [x], node.name, self.describe(node),
                                   attrs={"op": op, **attrs}))

    def visit_mul_or_sub(self, node: fx.Node, kind: str | None = None) -> None:
        """mul, sub or add of two computed tensors of one rank (2-D or 4-D), broadcasting."""
        kind = kind or ("mul" if node.target in (*_MUL_FUNCTIONS, "mul", "mul_") else "sub")
        if node.target in (torch.add, torch.sub) and _arg(node, 2, "alpha", 1) != 1:
            raise self.refuse(node, f"torch.{kind} with alpha != 1")
        a, b = _arg(node, 0, "input"), _arg(node, 1, "other")
        if not (_is_tensor(a) and _is_tensor(b)):
            raise self.refuse(node, f"{kind} with a constant (only tensor {kind} tensor)")
        x, y = self.tensor_input(node, 0), self.tensor_input(node, 1)
        if len(self.shapes[x]) != len(self.shapes[y]) or len(self.shapes[x]) not in (2, 4):
            raise self.refuse(node, f"{kind} of shapes {self.shapes[x]} and {self.shapes[y]} "
                                    "(both 2-D or both 4-D; broadcasting within)")
        self.add_layer(node, Layer(kind, node.name, [x, y], node.name, self.describe(node)))

    def visit_mean(self, node: fx.Node) -> None:
        x = self.tensor_input(node)
        rank = len(self.shapes[x])
        dims = _arg(node, 1, "dim")
        if dims is None or node.kwargs.get("dtype") is not None:
            raise self.refuse(node, "mean without dims or with a dtype")
        dims = tuple(sorted({int(d) % rank for d in (dims if isinstance(dims, (tuple, list))
                                                       else (dims,))}))
        keepdim = bool(_arg(node, 2, "keepdim", False))
        if (why := mean_refusal(dims, rank, keepdim)) is not None:
            raise self.refuse(node, why)
        self.add_layer(node, Layer("mean", node.name, [x], node.name, self.describe(node),
                                   attrs={"dims": dims, "keepdim": keepdim}))

    def visit_softmax(self, node: fx.Node, module: nn.Module | None) -> None:
        x = self.tensor_input(node)
        dim = module.dim if module is not None else _arg(node, 1, "dim")
        shape = self.shapes[x]
        if len(shape) != 2 or dim not in (1, -1):
            raise self.refuse(node, f"softmax over dim {dim} of {shape} (only the last "
                                    "dimension of (N, classes))")
        if node.op == "call_function" and _arg(node, 3, "dtype") is not None:
            raise self.refuse(node, "softmax with a dtype argument")
        self.add_layer(node, Layer("softmax", str(node.target) if module else node.name, [x],
                                   node.name, self.describe(node)))

    def tflite_padding(self, node: fx.Node, in_hw, out_hw, kernel, stride, dilation,
                       torch_padding) -> str:
        """SAME or VALID computing exactly what torch's symmetric padding computes."""
        kernel, stride, dilation = _pair(kernel), _pair(stride), _pair(dilation)
        torch_padding = _pair(torch_padding)
        out_hw = tuple(out_hw)
        valid = tuple(conv_output_size(i, k, s, d, "VALID")
                      for i, k, s, d in zip(in_hw, kernel, stride, dilation))
        if torch_padding == (0, 0) and out_hw == valid:
            return "VALID"
        same = tuple(conv_output_size(i, k, s, d, "SAME")
                     for i, k, s, d in zip(in_hw, kernel, stride, dilation))
        if out_hw == same and all(
                same_padding(i, k, s, d, o) == p
                for i, k, s, d, o, p in zip(in_hw, kernel, stride, dilation, out_hw,
                                            torch_padding)):
            return "SAME"
        leading = tuple(same_padding(i, k, s, d, o) for i, k, s, d, o in
                        zip(in_hw, kernel, stride, dilation, same))
        raise self.refuse(node, f"padding {torch_padding} on a {in_hw[0]}x{in_hw[1]} input "
                                f"(kernel {kernel}, stride {stride}) gives {out_hw[0]}x"
                                f"{out_hw[1]}; TFLite can only express VALID {valid} or SAME "
                                f"{same} with leading padding {leading}")


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[-1])
    return int(value), int(value)


# --- layouts: torch (NCHW, OIHW) -> IR (NHWC, TFLite weight layouts) ----------------------

def mean_refusal(dims: tuple[int, ...], rank: int, keepdim: bool) -> str | None:
    """Why a mean over ``dims`` (non-negative) of a ``rank``-D NCHW value has no IR form,
    or None: the batch is never reduced, and a 4-D result must keep an NHWC layout."""
    if 0 in dims or rank not in (2, 4):
        return f"mean over dims {dims} of a {rank}-D value (not the batch; 2-D or 4-D values)"
    if rank == 4 and not keepdim and dims != (2, 3):
        return (f"mean over dims {dims} without keepdim leaves a {rank - len(dims)}-D value, "
                "which has no NHWC layout")
    return None


NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}  # a 4-D torch dim -> the IR's dim


def ir_axes(dims: tuple[int, ...], rank: int) -> tuple[int, ...]:
    """The IR (NHWC) dims of torch dims of a ``rank``-D value, sorted."""
    return tuple(sorted(NHWC_AXIS[d] if rank == 4 else d for d in dims))


def ir_shape(torch_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Batch-1 IR shape of a torch value: (N, C, H, W) -> (1, H, W, C); (N, F) -> (1, F)."""
    if len(torch_shape) == 4:
        _, c, h, w = torch_shape
        return 1, h, w, c
    return (1, *torch_shape[1:])


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """Move channels last: (N, C, H, W) -> (N, H, W, C); 2-D arrays pass unchanged."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def to_nchw(x: np.ndarray) -> np.ndarray:
    """Inverse of to_nhwc."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x


def conv_weight_to_ir(weight: np.ndarray, depthwise: bool) -> np.ndarray:
    """Conv2d weights [out, in/groups, kh, kw] -> CONV_2D [out, kh, kw, in] or, for a
    depthwise conv ([out, 1, kh, kw]), DEPTHWISE_CONV_2D [1, kh, kw, out]. Torch's output
    channel o of a depthwise conv reads input channel o // multiplier, as TFLite's does."""
    order = (1, 2, 3, 0) if depthwise else (0, 2, 3, 1)
    return np.ascontiguousarray(weight.transpose(order))


def linear_weight_to_ir(weight: np.ndarray, chw: tuple[int, int, int] | None) -> np.ndarray:
    """Linear weights [out, in] as FULLY_CONNECTED weights. When the input is an NCHW map
    (C, H, W) flattened by torch (index c*H*W + h*W + w) and the IR flattens it NHWC
    (index (h*W + w)*C + c), the columns are permuted to match."""
    if chw is None:
        return np.ascontiguousarray(weight)
    c, h, w = chw
    out = weight.shape[0]
    if weight.shape[1] != c * h * w:
        raise UnsupportedError(f"Linear with {weight.shape[1]} inputs after flattening "
                               f"{c}x{h}x{w} = {math.prod(chw)} values")
    return np.ascontiguousarray(
        weight.reshape(out, c, h, w).transpose(0, 2, 3, 1).reshape(out, h * w * c))
