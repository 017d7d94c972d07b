"""QDQ ONNX models -> the int8 IR, with the file's own integers and scales (numpy only).

onnxruntime's ``quantize_static`` (QuantFormat.QDQ) writes an int8 network as float ops
between DequantizeLinear (DQ) and QuantizeLinear (Q) nodes:

    int8 W --DQ(axis 0)--.
    x_q --DQ--> x --> Conv --> y --Q--> y_q --DQ--> ...      int32 B --DQ-- (bias)

Each activation's (scale, zero point) is the Q/DQ pair around it, weights are int8
initializers (per output channel or per tensor) and biases int32 initializers, both behind a
DQ. The reader walks the nodes once: a DQ of a constant is a quantized constant, a DQ of a Q
output is that int8 tensor, and a float op's result waits for the Q that gives its output
parameters (``_Pending``); Relu/Clip in between fuse into it as the output clamp.

edgekd computes the imported graph with TFLite's integer arithmetic, not onnxruntime's;
where the file asks for something TFLite's int8 scheme expresses differently, the reader
converts it and warns (OnnxSemanticsWarning, listed in docs/onnx.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgekd.errors import EdgeKDError
from edgekd.frontends.nchw import columns_chw_to_hwc, conv_weight_to_ir, ir_shape
from edgekd.frontends.onnx_model import (
    OnnxModel, OnnxNode, clip_activation, log, pool_kernel, window_of,
)
from edgekd.ir import Graph, Node, QuantParams, Tensor

SOFTMAX_GRID = (1.0 / 256.0, -128)  # TFLite's int8 softmax output (scale, zero point)
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_PASSTHROUGH = ("Identity", "Dropout")
_FUSES_CLAMP = ("conv", "linear", "add", "avg_pool")
_CLAMPED_IR_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D",
                   "MAX_POOL_2D")
BIAS_SCALE_RTOL = 1e-6  # float32 products of the same scales agree far closer than this


def round_half_away(x: np.ndarray) -> np.ndarray:
    """C's round() elementwise (halves away from zero), as TFLite's quantizer rounds."""
    x = np.asarray(x, dtype=np.float64)
    whole = np.trunc(x)
    return whole + np.where(np.abs(x - whole) >= 0.5, np.sign(x), 0.0)


def qdq_to_graph(model: OnnxModel, float_io: bool = False) -> Graph:
    """The int8 graph of a QDQ model (int8 input/outputs, or float32 ones when float_io)."""
    log.info("%s: QDQ model imported with TFLite's integer arithmetic; onnxruntime computes "
             "it in float between DQ and Q (or with float requantization), so its outputs "
             "may differ by rounding", model.label)
    return _Reader(model, float_io).read()


@dataclass(frozen=True)
class _QParams:
    """An activation's (scale, zero point) as the file states them, and its code type."""

    scale: float
    zero_point: int
    dtype: str  # "int8" | "uint8"

    def int8(self) -> tuple[float, int]:
        """The same grid on int8 codes: uint8 codes and zero points move down by 128."""
        return self.scale, self.zero_point - (128 if self.dtype == "uint8" else 0)


@dataclass
class _Const:
    """A quantized constant: integer codes and per-tensor or per-axis parameters."""

    name: str
    codes: np.ndarray  # int64
    scale: np.ndarray  # float64 (float32 values), 1-D
    zero_point: np.ndarray  # int64, 1-D, same size as scale
    axis: int | None  # the axis the parameters run along (None: per tensor)

    def centered(self) -> np.ndarray:
        """codes - zero_point, broadcast along the axis."""
        return self.codes - self.broadcast(self.zero_point)

    def real(self) -> np.ndarray:
        return self.centered() * self.broadcast(self.scale)

    def broadcast(self, values: np.ndarray) -> np.ndarray:
        if self.axis is None:
            return values.reshape(())
        shape = [1] * self.codes.ndim
        shape[self.axis] = -1
        return values.reshape(shape)


@dataclass
class _Pending:
    """A float op's result; its output parameters come from the Q that follows."""

    kind: str  # conv, linear, add, avg_pool, softmax, or clamp (Relu after a Q/DQ pair)
    node: OnnxNode
    inputs: list[str]  # IR tensors
    attrs: dict = field(default_factory=dict)
    activation: str = "NONE"
    weight: _Const | None = None
    bias: _Const | np.ndarray | None = None
    value: str = ""  # the ONNX float value it computes (moves along fused Relu/Clip)


class _Reader:
    def __init__(self, model: OnnxModel, float_io: bool) -> None:
        self.model = model
        self.float_io = float_io
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.inputs: list[str] = []
        self.input_params: _QParams | None = None  # the grid of the first Q/DQ of the input
        self.int8_input = ""  # the IR tensor of the quantized input
        self.int_constants: dict[str, np.ndarray] = {}  # Q of a float constant
        self.alias: dict[str, str] = {}  # float value -> the IR tensor holding it exactly
        self.codes: dict[str, tuple[str, _QParams]] = {}  # Q output -> IR tensor, Q params
        self.consts: dict[str, _Const] = {}  # DQ of a constant -> the quantized constant
        self.pending: dict[str, _Pending] = {}
        self.nhwc_views: dict[str, str] = {}  # Transpose(0, 2, 3, 1) output -> IR tensor
        self.flat_chw: dict[str, tuple[int, int, int]] = {}  # IR tensor flattened as NCHW
        # The grid the file gives a tensor where the IR's differs (averages and softmax
        # outputs keep TFLite's): later Q/DQ nodes of the same values are checked against it.
        self.file_grid: dict[str, tuple[float, int]] = {}

    def refuse(self, node: OnnxNode, why: str):
        return self.model.refuse(node, why)

    # -- the walk ----------------------------------------------------------------------------

    def read(self) -> Graph:
        for node in self.model.nodes:
            handler = getattr(self, f"visit_{node.op.lower()}", None)
            if node.op in _PASSTHROUGH:
                self.visit_passthrough(node)
            elif node.op in ("Relu", "Clip"):
                self.visit_clamp(node)
            elif handler is None:
                raise self.refuse(node, "unsupported op on computed data in a QDQ model "
                                        "(shape ops are supported on constants only)")
            else:
                handler(node)
        if not self.inputs:
            raise EdgeKDError(f"{self.model.label}: the input {self.model.input!r} is never "
                              "quantized (no QuantizeLinear or DequantizeLinear reads it)")
        outputs: list[str] = []
        for name in self.model.outputs:
            outputs.append(self.output(name, outputs))
        graph = Graph(self.model.name, self.tensors, self.nodes, self.inputs, outputs)
        try:
            return graph.validate()
        except EdgeKDError as error:
            raise EdgeKDError(f"{self.model.label}: {error}") from None

    def output(self, name: str, taken: list[str]) -> str:
        """The IR output for the file's output ``name`` (``taken``: outputs so far)."""
        tensor = self.alias.get(name) or self.codes.get(name, (None,))[0]
        if tensor is None and name in self.pending and self.pending[name].kind == "avg_pool":
            tensor = self.materialize(self.pending.pop(name), None)
        if tensor is None:
            raise EdgeKDError(f"{self.model.label}: output {name!r} is computed in float (no "
                              "QuantizeLinear/DequantizeLinear pair after it)")
        if tensor in self.flat_chw:
            raise EdgeKDError(f"{self.model.label}: output {name!r} flattens an NCHW map; the "
                              "IR flattens NHWC, so its element order would differ")
        if self.float_io:
            real = self.new_tensor(name, self.tensors[tensor].shape, "float32", None)
            self.nodes.append(Node("DEQUANTIZE", f"{name}_dequantize", [tensor], [real]))
            return real
        if tensor != name and name not in self.tensors and tensor not in (*self.inputs,
                                                                            *taken):
            self.rename(tensor, name)  # the IR output keeps the file's output name
            return name
        return tensor

    def rename(self, old: str, new: str) -> None:
        tensor = self.tensors.pop(old)
        tensor.name = new
        self.tensors[new] = tensor
        for node in self.nodes:
            node.inputs = [new if n == old else n for n in node.inputs]
            node.outputs = [new if n == old else n for n in node.outputs]
        for table in (self.alias, self.nhwc_views):
            for key, value in table.items():
                if value == old:
                    table[key] = new
        for key, (value, qp) in self.codes.items():
            if value == old:
                self.codes[key] = (new, qp)
        for table in (self.flat_chw, self.file_grid):
            if old in table:
                table[new] = table.pop(old)

    # -- tensors -------------------------------------------------------------------------------

    def unique(self, name: str) -> str:
        candidate, suffix = name, 0
        while candidate in self.tensors:
            suffix += 1
            candidate = f"{name}_{suffix}"
        return candidate

    def new_tensor(self, name: str, shape, dtype: str, quant: QuantParams | None,
                   data: np.ndarray | None = None) -> str:
        name = self.unique(name)
        self.tensors[name] = Tensor(name, shape, dtype, quant,
                                    None if data is None else data.astype(dtype))
        return name

    def activation_tensor(self, value: str, shape, params: tuple[float, int]) -> str:
        return self.new_tensor(value, ir_shape(shape), "int8", QuantParams.per_tensor(*params))

    def params_of(self, tensor: str) -> tuple[float, int]:
        q = self.tensors[tensor].quant
        return q.scalar_scale, q.scalar_zero_point

    def input_tensor(self, node: OnnxNode, qp: _QParams) -> str:
        """The IR input (created by the first Q/DQ reading the model input)."""
        name = self.model.input
        if self.input_params is not None:
            if qp != self.input_params:
                raise self.refuse(node, f"quantizes the input again with {qp}, not "
                                        f"{self.input_params}")
            return self.int8_input
        if qp.dtype == "uint8":
            self.model.warn("uint8 activations are read as int8 with the zero point moved "
                            "down by 128 (the same real values); int8 inputs are the uint8 "
                            "codes minus 128")
        self.input_params = qp
        shape = self.model.shapes[name]
        if self.float_io:
            real = self.new_tensor(name, ir_shape(shape), "float32", None)
            self.int8_input = self.activation_tensor(f"{name}_int8", shape, qp.int8())
            self.nodes.append(Node("QUANTIZE", f"{name}_quantize", [real], [self.int8_input]))
            self.inputs = [real]
        else:
            self.int8_input = self.activation_tensor(name, shape, qp.int8())
            self.inputs = [self.int8_input]
        return self.int8_input

    def activation(self, node: OnnxNode, index: int = 0) -> str:
        """The IR tensor an op's float input is exactly (a DQ output, or a value-preserving
        op of one)."""
        name = node.inputs[index] if index < len(node.inputs) else ""
        if name in self.alias:
            return self.alias[name]
        if name in self.pending and self.pending[name].kind == "avg_pool":
            # onnxruntime may leave the average unquantized; TFLite's keeps the input's grid
            return self.materialize(self.pending.pop(name), None)
        if name in self.pending:
            raise self.refuse(node, f"input {name!r} is the float result of "
                                    f"{self.pending[name].node.name!r} with no "
                                    "QuantizeLinear/DequantizeLinear pair after it")
        if name in self.nhwc_views:
            raise self.refuse(node, "a Transpose to NHWC may only feed a Flatten or Reshape")
        if name == self.model.input:
            raise self.refuse(node, "reads the model input in float (no QuantizeLinear)")
        if name in self.codes:
            raise self.refuse(node, f"reads the int8 codes {name!r} without a "
                                    "DequantizeLinear")
        raise self.refuse(node, f"input {index} ({name!r}) is not a dequantized activation")

    # -- Q and DQ --------------------------------------------------------------------------

    def quant_args(self, node: OnnxNode) -> tuple[np.ndarray, np.ndarray, str]:
        """(scale, zero point, code dtype) of a Q/DQ node, checked."""
        scale = self.model.constant(node, 1, "scale")
        if scale is None:
            raise self.refuse(node, "missing scale")
        zero_point = self.model.constant(node, 2, "zero point")
        if int(node.attrs.get("block_size", 0)):
            raise self.refuse(node, "blocked quantization (block_size)")
        if zero_point is None:
            dtype = "uint8"
            if "output_dtype" in node.attrs:
                import onnx
                dtype = str(onnx.helper.tensor_dtype_to_np_dtype(int(node.attrs["output_dtype"])))
            zero_point = np.zeros(scale.shape, dtype=dtype)
        dtype = str(zero_point.dtype)
        scale = np.asarray(scale, dtype=np.float64)
        if scale.ndim > 1 or zero_point.size != scale.size or not np.isfinite(scale).all() \
                or (scale <= 0).any():
            raise self.refuse(node, f"scale {scale.shape} / zero point {zero_point.shape}: "
                                    "expected positive finite scales and matching zero points")
        return scale.reshape(-1), zero_point.astype(np.int64).reshape(-1), dtype

    def activation_params(self, node: OnnxNode) -> _QParams:
        scale, zero_point, dtype = self.quant_args(node)
        if scale.size != 1:
            raise self.refuse(node, "per-axis parameters on an activation (TFLite quantizes "
                                    "activations per tensor)")
        if dtype not in ("int8", "uint8"):
            raise self.refuse(node, f"{dtype} activations (supported: int8, uint8)")
        return _QParams(float(np.float32(scale[0])), int(zero_point[0]), dtype)

    def visit_quantizelinear(self, node: OnnxNode) -> None:
        x, y = node.inputs[0], node.outputs[0]
        if x in self.model.constants:
            self.int_constants[y] = self.quantize_constant(node)
            return
        qp = self.activation_params(node)
        if x == self.model.input:
            tensor = self.input_tensor(node, qp)
        elif x in self.pending:
            tensor = self.materialize(self.pending.pop(x), qp)
        elif x in self.alias:
            tensor = self.alias[x]
            grid = self.file_grid.get(tensor, self.params_of(tensor))
            if grid != qp.int8():
                raise self.refuse(node, f"re-quantizes {x!r} from (scale, zero point) {grid} "
                                        f"to {qp.int8()}: a requantization between layers is "
                                        "not an op of the IR")
        else:
            raise self.refuse(node, f"quantizes {x!r}, which no supported op computes")
        self.codes[y] = (tensor, qp)

    def quantize_constant(self, node: OnnxNode) -> np.ndarray:
        """QuantizeLinear of a float constant (weights stored in float): ONNX rounds half
        to even and saturates to the code type."""
        scale, zero_point, dtype = self.quant_args(node)
        data = self.model.constants[node.inputs[0]].astype(np.float64)
        if not np.isfinite(data).all():
            raise self.refuse(node, f"{node.inputs[0]!r} holds NaN or infinite values")
        axis = self.axis(node, data.ndim, scale.size)
        shape = [1] * data.ndim
        if axis is not None:
            shape[axis] = -1
        info = np.iinfo(dtype)
        codes = np.rint(data / scale.reshape(shape)) + zero_point.reshape(shape)
        return np.clip(codes, info.min, info.max).astype(dtype)

    def axis(self, node: OnnxNode, rank: int, size: int) -> int | None:
        if size == 1:
            return None
        axis = int(node.attrs.get("axis", 1))
        if not -rank <= axis < rank:
            raise self.refuse(node, f"axis {axis} of a rank-{rank} tensor")
        return axis % rank

    def visit_dequantizelinear(self, node: OnnxNode) -> None:
        x, y = node.inputs[0], node.outputs[0]
        if x in self.model.constants or x in self.int_constants:
            codes = self.int_constants.get(x)
            codes = self.model.constants[x] if codes is None else codes
            scale, zero_point, dtype = self.quant_args(node)
            if not np.issubdtype(codes.dtype, np.integer) or str(codes.dtype) != dtype:
                raise self.refuse(node, f"constant {x!r} is {codes.dtype}, its zero point "
                                        f"{dtype}")
            axis = self.axis(node, codes.ndim, scale.size)
            if axis is not None and codes.shape[axis] != scale.size:
                raise self.refuse(node, f"{scale.size} scales along axis {axis} of {x!r} "
                                        f"{codes.shape}")
            self.consts[y] = _Const(x, codes.astype(np.int64), scale, zero_point, axis)
            return
        qp = self.activation_params(node)
        if x in self.codes:
            tensor, source = self.codes[x]
            if qp != source:
                raise self.refuse(node, f"dequantizes {x!r} with {qp}, but it was quantized "
                                        f"with {source}")
        elif x == self.model.input:
            tensor = self.input_tensor(node, qp)
        else:
            raise self.refuse(node, f"dequantizes {x!r}, which is neither a constant nor the "
                                    "output of a QuantizeLinear")
        self.alias[y] = tensor

    # -- float ops --------------------------------------------------------------------------

    def visit_passthrough(self, node: OnnxNode) -> None:
        x, y = node.inputs[0], node.outputs[0]
        for table in (self.alias, self.pending, self.nhwc_views, self.consts):
            if x in table:
                table[y] = table[x]
                return
        self.activation(node)  # raises the reason

    def visit_clamp(self, node: OnnxNode) -> None:
        activation = clip_activation(self.model, node)
        x, y = node.inputs[0], node.outputs[0]
        pending = self.pending.get(x)
        if pending is None:
            # Q -> DQ -> Relu -> Q: fuse into the op that wrote the first Q's tensor.
            tensor = self.activation(node)
            pending = _Pending("clamp", node, [tensor])
        elif pending.kind not in _FUSES_CLAMP or pending.activation != "NONE":
            raise self.refuse(node, f"{node.op} after {pending.node.op} "
                                    f"{pending.node.name!r} (fused activation "
                                    f"{pending.activation})")
        else:
            del self.pending[x]
        pending.activation = activation
        pending.value = y
        self.pending[y] = pending

    def visit_conv(self, node: OnnxNode) -> None:
        x = self.activation(node)
        weight = self.const_input(node, 1, "Conv weights")
        self.pending[node.outputs[0]] = _Pending(
            "conv", node, [x], weight=weight, bias=self.bias_input(node, 2),
            value=node.outputs[0])

    def visit_gemm(self, node: OnnxNode) -> None:
        if int(node.attrs.get("transA", 0)):
            raise self.refuse(node, "Gemm with transA=1")
        if float(node.attrs.get("alpha", 1.0)) != 1.0 or float(node.attrs.get("beta", 1.0)) \
                != 1.0:
            raise self.refuse(node, "Gemm with alpha or beta other than 1")
        self.add_linear(node, transposed=bool(int(node.attrs.get("transB", 0))))

    def visit_matmul(self, node: OnnxNode) -> None:
        self.add_linear(node, transposed=False)

    def add_linear(self, node: OnnxNode, transposed: bool) -> None:
        x = self.activation(node)
        weight = self.const_input(node, 1, f"{node.op} weights")
        if weight.codes.ndim != 2:
            raise self.refuse(node, f"weights of shape {weight.codes.shape}, expected 2-D")
        self.pending[node.outputs[0]] = _Pending(
            "linear", node, [x], {"transposed": transposed}, weight=weight,
            bias=self.bias_input(node, 2), value=node.outputs[0])

    def const_input(self, node: OnnxNode, index: int, what: str) -> _Const:
        name = node.inputs[index] if index < len(node.inputs) else ""
        if name not in self.consts:
            raise self.refuse(node, f"{what} ({name!r}) must be a quantized constant "
                                    "(an integer initializer behind a DequantizeLinear)")
        return self.consts[name]

    def bias_input(self, node: OnnxNode, index: int) -> _Const | np.ndarray | None:
        name = node.inputs[index] if index < len(node.inputs) else ""
        if not name:
            return None
        if name in self.consts:
            return self.consts[name]
        if name in self.model.constants:
            bias = self.model.constants[name].astype(np.float64)  # a float bias
            if not np.isfinite(bias).all():
                raise self.refuse(node, f"bias {name!r} holds NaN or infinite values")
            return bias
        raise self.refuse(node, f"bias {name!r} must be a constant")

    def visit_add(self, node: OnnxNode) -> None:
        a, b = node.inputs[:2]
        constant = [name in self.consts or name in self.model.constants for name in (a, b)]
        if constant.count(True) == 1:  # MatMul + Add(bias)
            source = (a, b)[constant.index(False)]
            pending = self.pending.get(source)
            if pending is None or pending.kind != "linear" or pending.bias is not None \
                    or pending.activation != "NONE":
                raise self.refuse(node, "Add of a constant is supported only as the bias of "
                                        "a MatMul")
            pending.bias = self.bias_input(node, constant.index(True))
            del self.pending[source]
            pending.value = node.outputs[0]
            self.pending[node.outputs[0]] = pending
            return
        x, y = self.activation(node, 0), self.activation(node, 1)
        if self.tensors[x].shape != self.tensors[y].shape:
            raise self.refuse(node, f"Add with broadcasting {self.tensors[x].shape} + "
                                    f"{self.tensors[y].shape}")
        if x in self.flat_chw or y in self.flat_chw:
            raise self.refuse(node, "Add of flattened NCHW maps")
        self.pending[node.outputs[0]] = _Pending("add", node, [x, y], value=node.outputs[0])

    def pool_attrs(self, node: OnnxNode, x: str) -> dict:
        in_shape = self.model.shapes[node.inputs[0]]
        out_shape = self.model.shape(node, node.outputs[0])
        if len(in_shape) != 4:
            raise self.refuse(node, f"pooling a {len(in_shape)}-D tensor")
        kernel = pool_kernel(self.model, node, in_shape[2:])
        if node.op == "GlobalAveragePool":
            node = OnnxNode(node.op, node.name, node.inputs, node.outputs, {"strides": kernel})
        window = window_of(self.model, node, in_shape[2:], out_shape[2:], kernel)
        return {"filter": kernel, "stride": window.stride, "padding": window.padding}

    def visit_maxpool(self, node: OnnxNode) -> None:
        x = self.activation(node)
        attrs = {**self.pool_attrs(node, x), "activation": "NONE"}
        y = self.activation_tensor(node.outputs[0], self.model.shape(node, node.outputs[0]),
                                   self.params_of(x))
        self.nodes.append(Node("MAX_POOL_2D", node.name, [x], [y], attrs))
        self.keep_grid(x, y)
        self.alias[node.outputs[0]] = y

    def visit_averagepool(self, node: OnnxNode) -> None:
        x = self.activation(node)
        self.pending[node.outputs[0]] = _Pending("avg_pool", node, [x],
                                                 self.pool_attrs(node, x),
                                                 value=node.outputs[0])

    visit_globalaveragepool = visit_averagepool

    def visit_transpose(self, node: OnnxNode) -> None:
        x = self.activation(node)
        perm = tuple(int(p) for p in node.attrs.get("perm", ()))
        users = self.model.consumers.get(node.outputs[0], [])
        if perm != (0, 2, 3, 1) or len(self.tensors[x].shape) != 4 or not users or any(
                u.op not in ("Flatten", "Reshape") for u in users):
            raise self.refuse(node, f"Transpose {perm}: only (0, 2, 3, 1) feeding a Flatten "
                                    "or Reshape to (N, -1) is supported")
        self.nhwc_views[node.outputs[0]] = x

    def visit_flatten(self, node: OnnxNode) -> None:
        nhwc = node.inputs[0] in self.nhwc_views
        x = self.nhwc_views[node.inputs[0]] if nhwc else self.activation(node)
        in_shape = self.tensors[x].shape
        out_shape = self.model.shape(node, node.outputs[0])
        if len(out_shape) != 2 or out_shape[0] != in_shape[0] or \
                out_shape[1] != math.prod(in_shape[1:]):
            raise self.refuse(node, f"reshape to {out_shape} (only flattening to (N, -1) is "
                                    "supported)")
        if len(in_shape) == 2:
            self.alias[node.outputs[0]] = x
            return
        y = self.activation_tensor(node.outputs[0], out_shape, self.params_of(x))
        self.nodes.append(Node("RESHAPE", node.name, [x], [y]))
        self.keep_grid(x, y)
        _, h, w, c = in_shape
        if not nhwc and c > 1 and h * w > 1:
            self.flat_chw[y] = (c, h, w)  # the file's order; the IR's is (h, w, c)
        self.alias[node.outputs[0]] = y

    visit_reshape = visit_flatten

    def keep_grid(self, source: str, result: str) -> None:
        """A value-preserving op's output has its input's grid, in the file too."""
        if source in self.file_grid:
            self.file_grid[result] = self.file_grid[source]

    def visit_softmax(self, node: OnnxNode) -> None:
        x = self.activation(node)
        shape = self.model.shapes[node.inputs[0]]
        axis = int(node.attrs.get("axis", -1)) % len(shape)
        # The IR's softmax runs over the last NHWC axis: ONNX's last axis of (N, classes)
        # or the channel axis of a 4-D map.
        if not (len(shape) == 2 and axis == 1 or len(shape) == 4 and axis == 1):
            raise self.refuse(node, f"Softmax over axis {axis} of {shape} (only the classes "
                                    "of (N, classes) or the channels of (N, C, H, W))")
        if x in self.flat_chw:
            raise self.refuse(node, "Softmax of a flattened NCHW map")
        self.pending[node.outputs[0]] = _Pending("softmax", node, [x], value=node.outputs[0])

    # -- pending ops become IR nodes ---------------------------------------------------------

    def materialize(self, p: _Pending, qp: _QParams | None) -> str:
        """The IR node of a pending op whose output the Q ``qp`` quantizes (None: an
        average pool left in float), and its output tensor."""
        shape = self.model.shape(p.node, p.value)
        if p.kind == "clamp":
            return self.fuse_clamp(p, qp)
        if p.kind == "avg_pool":
            params = self.params_of(p.inputs[0])
            if qp is not None and qp.int8() != params:
                self.model.warn(f"node {p.node.name!r} ({p.node.op}): onnxruntime requantizes "
                                f"the average from {params} to {qp.int8()} (scale, zero "
                                "point); TFLite's AVERAGE_POOL_2D keeps the input's, so "
                                "edgekd does (later biases are rescaled to match)")
            y = self.activation_tensor(p.value, shape, params)
            if qp is not None:
                self.file_grid[y] = qp.int8()
            self.nodes.append(Node("AVERAGE_POOL_2D", p.node.name, p.inputs, [y],
                                   {**p.attrs, "activation": p.activation}))
            return y
        if p.kind == "softmax":
            if qp.int8() != SOFTMAX_GRID:
                self.model.warn(f"node {p.node.name!r} (Softmax): output quantized with "
                                f"{qp.int8()} (scale, zero point); TFLite's int8 softmax "
                                "writes scale 1/256, zero point -128, which edgekd uses")
            y = self.activation_tensor(p.value, shape, SOFTMAX_GRID)
            self.file_grid[y] = qp.int8()
            self.nodes.append(Node("SOFTMAX", p.node.name, p.inputs, [y], {"beta": 1.0}))
            return y
        y = self.activation_tensor(p.value, shape, qp.int8())
        if p.kind == "add":
            self.nodes.append(Node("ADD", p.node.name, p.inputs, [y],
                                   {"activation": p.activation}))
        elif p.kind == "conv":
            self.write_conv(p, y)
        else:
            self.write_linear(p, y)
        return y

    def fuse_clamp(self, p: _Pending, qp: _QParams) -> str:
        """Relu/Clip between two Q/DQ pairs: the clamp of the op that wrote the tensor."""
        tensor = p.inputs[0]
        writer = next((n for n in self.nodes if tensor in n.outputs), None)
        readers = [n for n in self.nodes if tensor in n.inputs]
        names = [k for k, v in self.alias.items() if v == tensor] + \
                [k for k, (v, _) in self.codes.items() if v == tensor]
        users = {id(u) for name in names for u in self.model.consumers.get(name, [])
                 if not (u.op == "DequantizeLinear" and u.outputs[0] in names)}
        if writer is None or writer.op not in _CLAMPED_IR_OPS or readers or \
                users != {id(p.node)} or set(names) & set(self.model.outputs) or \
                writer.attrs.get("activation", "NONE") != "NONE":
            raise self.refuse(p.node, f"{p.node.op} on a tensor that is used elsewhere or not "
                                      "written by a conv, fully connected, add or pool")
        if self.params_of(tensor) != qp.int8():
            if writer.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
                raise self.refuse(p.node, f"{p.node.op} re-quantizes a pool's output")
            self.model.warn(f"node {p.node.name!r} ({p.node.op}): onnxruntime quantizes "
                            f"{writer.name!r}'s output twice, before and after the "
                            f"{p.node.op}; edgekd requantizes once, to the second grid")
            self.tensors[tensor].quant = QuantParams.per_tensor(*qp.int8())
        writer.attrs["activation"] = p.activation
        return tensor

    def write_conv(self, p: _Pending, y: str) -> None:
        node, x = p.node, p.inputs[0]
        in_shape = self.model.shapes[node.inputs[0]]
        if len(in_shape) != 4 or p.weight.codes.ndim != 4:
            raise self.refuse(node, "only 2-D convolution (4-D input and weights)")
        out_c, in_per_group, kh, kw = p.weight.codes.shape
        in_c = in_shape[1]
        groups = int(node.attrs.get("group", 1))
        depthwise = groups > 1
        if groups < 1 or depthwise and not (groups == in_c and in_per_group == 1
                                            and out_c % in_c == 0):
            raise self.refuse(node, f"grouped convolution with group={groups} (only 1 or the "
                                    f"{in_c} input channels)")
        if p.weight.axis not in (None, 0):
            raise self.refuse(node, f"weights quantized along axis {p.weight.axis} (expected "
                                    "per output channel, axis 0, or per tensor)")
        window = window_of(self.model, node, in_shape[2:], self.model.shape(node, p.value)[2:],
                           (kh, kw))
        codes, scales = self.symmetric_weights(node, p.weight)
        weights = conv_weight_to_ir(codes, depthwise)
        w_quant = QuantParams(scales, np.zeros_like(scales, dtype=np.int64),
                              (3 if depthwise else 0) if scales.size > 1 else None)
        attrs = {"stride": window.stride, "dilation": window.dilation,
                 "padding": window.padding, "activation": p.activation}
        if depthwise:
            attrs["depth_multiplier"] = out_c // in_c
        w = self.new_tensor(f"{node.name}.weight", weights.shape, "int8", w_quant, weights)
        b = self.bias_tensor(p, x, scales, out_c)
        self.nodes.append(Node("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", node.name,
                               [x, w, b], [y], attrs))

    def write_linear(self, p: _Pending, y: str) -> None:
        node, x = p.node, p.inputs[0]
        weight = p.weight
        # The IR holds [out, in] with parameters along out: Gemm transB=1 is [out, in]
        # (axis 0); MatMul and Gemm transB=0 hold [in, out] (axis 1).
        out_axis = 0 if p.attrs["transposed"] else 1
        if weight.axis not in (None, out_axis):
            raise self.refuse(node, f"weights quantized along axis {weight.axis} (expected the "
                                    f"output axis {out_axis}, or per tensor)")
        codes, scales = self.symmetric_weights(node, weight)
        if not p.attrs["transposed"]:
            codes = codes.T
        in_shape = self.tensors[x].shape
        if len(in_shape) != 2 or in_shape[1] != codes.shape[1]:
            raise self.refuse(node, f"a fully connected layer on {in_shape} with {codes.shape[1]}"
                                    " inputs (flatten to (N, features) first)")
        if x in self.flat_chw:
            codes = columns_chw_to_hwc(codes, self.flat_chw[x])
        w_quant = QuantParams(scales, np.zeros_like(scales, dtype=np.int64),
                              0 if scales.size > 1 else None)
        w = self.new_tensor(f"{node.name}.weight", codes.shape, "int8", w_quant,
                            np.ascontiguousarray(codes))
        b = self.bias_tensor(p, x, scales, codes.shape[0])
        self.nodes.append(Node("FULLY_CONNECTED", node.name, [x, w, b], [y],
                               {"activation": p.activation}))

    def symmetric_weights(self, node: OnnxNode, weight: _Const) -> tuple[np.ndarray, np.ndarray]:
        """int8 codes with zero point 0 and their scales: the file's codes when they are
        symmetric int8, shifted by the zero point when that stays in int8 (exact), else
        requantized symmetric (approximate, with a warning)."""
        centered = weight.centered()
        if centered.min(initial=0) >= -128 and centered.max(initial=0) <= 127:
            return centered.astype(np.int8), weight.scale
        self.model.warn(f"node {node.name!r} ({node.op}): weights {weight.name!r} are "
                        "asymmetric beyond int8 once the zero point is removed; TFLite's "
                        "weights are symmetric, so edgekd requantizes them (max|w|/127)")
        real = weight.real()
        axes = tuple(a for a in range(real.ndim) if a != weight.axis)
        peak = np.abs(real).max(axis=axes) if weight.axis is not None else np.abs(real).max()
        scales = np.maximum(np.atleast_1d(peak).astype(np.float32).astype(np.float64) / 127.0,
                            1e-12)
        scales = scales.astype(np.float32).astype(np.float64)
        codes = round_half_away(real / weight.broadcast(scales))
        return np.clip(codes, -127, 127).astype(np.int8), scales

    def bias_tensor(self, p: _Pending, x: str, w_scales: np.ndarray, channels: int) -> str:
        """int32 bias at scale input_scale * weight_scale[c], as TFLite's kernels expect."""
        node = p.node
        in_scale, _ = self.params_of(x)
        scales = np.broadcast_to(np.float64(np.float32(in_scale)) * w_scales, (channels,))
        scales = scales.astype(np.float32).astype(np.float64)
        bias = p.bias
        if bias is None:
            codes = np.zeros(channels, dtype=np.int64)
        elif isinstance(bias, np.ndarray):
            if bias.size not in (1, channels):
                raise self.refuse(node, f"bias of shape {bias.shape} for {channels} outputs")
            codes = round_half_away(np.broadcast_to(bias.reshape(-1), (channels,)) / scales)
        else:
            if bias.codes.size not in (1, channels):
                raise self.refuse(node, f"bias {bias.name!r} of shape {bias.codes.shape} for "
                                        f"{channels} outputs")
            file_scales = np.broadcast_to(bias.broadcast(bias.scale).reshape(-1), (channels,)) \
                if bias.axis is not None else np.full(channels, bias.scale[0])
            centered = np.broadcast_to(bias.centered().reshape(-1), (channels,))
            if np.allclose(file_scales, scales, rtol=BIAS_SCALE_RTOL, atol=0):
                codes = centered
            else:
                self.model.warn(f"node {node.name!r} ({node.op}): bias {bias.name!r} is "
                                "quantized at a scale other than input scale x weight scale; "
                                "edgekd rescales it (rounding)")
                codes = round_half_away(centered * file_scales / scales)
        codes = np.asarray(codes, dtype=np.float64)
        if codes.min(initial=0) < INT32_MIN or codes.max(initial=0) > INT32_MAX:
            raise self.refuse(node, "bias beyond int32 at input scale x weight scale")
        quant = QuantParams(scales, np.zeros(channels, dtype=np.int64), 0) \
            if w_scales.size > 1 else QuantParams.per_tensor(scales[0])
        return self.new_tensor(f"{node.name}.bias", (channels,), "int32", quant,
                               codes.astype(np.int64))
