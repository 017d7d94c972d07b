"""Read and write int8 TFLite flatbuffers as ``ir.Graph``.

The reader accepts what TFLite's converter emits for fully int8-quantized models (int8
activations and weights, int32 bias, optional float QUANTIZE/DEQUANTIZE at the model
boundary) and rejects everything else with a one-line EdgeKDError naming the file, the
operator and the problem. It parses through the generated ``tflite`` schema package; that
runtime has no verifier, so every vector length and index is checked against the file size
before use, and any exception an accessor raises on a corrupt file becomes a
ModelFormatError.

The writer produces schema-version-3 files that TFLite Micro runs: buffer 0 empty, one
16-byte-aligned buffer per constant, per-channel quantization with its quantized_dimension,
RESHAPE with both its new_shape option and its shape tensor.
"""
from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import flatbuffers
import numpy as np
import tflite
from tflite.utils import BUILTIN_OPCODE2NAME

from edgekd.atomic import atomic_file
from edgekd.errors import EdgeKDError, GraphError, ModelFormatError, UnsupportedError
from edgekd.frontends.source import read_model_bytes
from edgekd.frontends.tflite_layout import (
    LAYOUT_BUILTINS, LAYOUT_IR_OPS, LayoutReader, layout_builtin, layout_operands,
    layout_options,
)
from edgekd.frontends.tflite_lstm import read_lstm
from edgekd.ir import Graph, Node, QuantParams, Tensor

SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"

_BUILTIN = tflite.BuiltinOperator
_OPTIONS = tflite.BuiltinOptions
_TYPE = tflite.TensorType

# TFLite builtin code -> IR op, for the ops edgekd supports.
SUPPORTED_OPS: dict[int, str] = {
    _BUILTIN.CONV_2D: "CONV_2D",
    _BUILTIN.DEPTHWISE_CONV_2D: "DEPTHWISE_CONV_2D",
    _BUILTIN.FULLY_CONNECTED: "FULLY_CONNECTED",
    _BUILTIN.AVERAGE_POOL_2D: "AVERAGE_POOL_2D",
    _BUILTIN.MAX_POOL_2D: "MAX_POOL_2D",
    _BUILTIN.ADD: "ADD",
    _BUILTIN.RESHAPE: "RESHAPE",
    _BUILTIN.SOFTMAX: "SOFTMAX",
    _BUILTIN.QUANTIZE: "QUANTIZE",
    _BUILTIN.DEQUANTIZE: "DEQUANTIZE",
    _BUILTIN.UNIDIRECTIONAL_SEQUENCE_LSTM: "UNIDIRECTIONAL_SEQUENCE_LSTM",
    _BUILTIN.MEAN: "MEAN",
    _BUILTIN.SUM: "SUM",
    _BUILTIN.REDUCE_MAX: "REDUCE_MAX",
    _BUILTIN.ARG_MAX: "ARG_MAX",
    _BUILTIN.ARG_MIN: "ARG_MIN",
    _BUILTIN.MUL: "MUL",
    _BUILTIN.SUB: "SUB",
    _BUILTIN.MINIMUM: "MINIMUM",
    _BUILTIN.MAXIMUM: "MAXIMUM",
    _BUILTIN.LOGISTIC: "LOGISTIC",
    _BUILTIN.TANH: "TANH",
    _BUILTIN.HARD_SWISH: "HARD_SWISH",
    _BUILTIN.RELU: "RELU",
    _BUILTIN.RELU6: "RELU6",
    _BUILTIN.LEAKY_RELU: "LEAKY_RELU",
    _BUILTIN.PRELU: "PRELU",
}
_BUILTIN_OF_OP = {op: code for code, op in SUPPORTED_OPS.items()}
# TFLite's QUANTIZE from int8 to int8 is the IR's REQUANTIZE.
_BUILTIN_OF_OP["REQUANTIZE"] = _BUILTIN.QUANTIZE
# Ops whose second input in the file is a constant int32 axis tensor (an IR attribute).
_AXIS_OPS = ("MEAN", "SUM", "REDUCE_MAX", "ARG_MAX", "ARG_MIN")
_REDUCER_OPS = ("MEAN", "SUM", "REDUCE_MAX")
# TFLite's hybrid FULLY_CONNECTED (float32 input, int8 weights) with
# asymmetric_quantize_inputs is DYNAMIC_FULLY_CONNECTED (the symmetric variant is refused).
_BUILTIN_OF_OP["DYNAMIC_FULLY_CONNECTED"] = _BUILTIN.FULLY_CONNECTED
# QUANTIZE with an integer input (int8/uint8 -> int8/uint8) is REQUANTIZE.
_BUILTIN_OF_OP["REQUANTIZE"] = _BUILTIN.QUANTIZE

_DTYPE_OF_TYPE = {_TYPE.INT8: "int8", _TYPE.UINT8: "uint8", _TYPE.INT32: "int32",
                  _TYPE.FLOAT32: "float32"}
_ZERO_POINT_RANGE = {"uint8": (0, 255)}  # every other type: int8's
_TYPE_OF_DTYPE = {dtype: code for code, dtype in _DTYPE_OF_TYPE.items()}
_TYPE_NAMES = {v: k for k, v in vars(_TYPE).items() if not k.startswith("_")}

_ACTIVATION_OF_FUSED = {
    tflite.ActivationFunctionType.NONE: "NONE",
    tflite.ActivationFunctionType.RELU: "RELU",
    tflite.ActivationFunctionType.RELU6: "RELU6",
}
_FUSED_OF_ACTIVATION = {name: code for code, name in _ACTIVATION_OF_FUSED.items()}
_FUSED_NAMES = {v: k for k, v in vars(tflite.ActivationFunctionType).items()
                if not k.startswith("_")}
_PADDING_OF_CODE = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}
_CODE_OF_PADDING = {name: code for code, name in _PADDING_OF_CODE.items()}

# Inputs each op takes in the file (min, max; optional trailing inputs may be absent).
_INPUT_COUNTS = {
    "CONV_2D": (2, 3), "DEPTHWISE_CONV_2D": (2, 3), "FULLY_CONNECTED": (2, 3),
    "AVERAGE_POOL_2D": (1, 1), "MAX_POOL_2D": (1, 1), "ADD": (2, 2), "RESHAPE": (1, 2),
    "SOFTMAX": (1, 1), "QUANTIZE": (1, 1), "DEQUANTIZE": (1, 1),
    "DYNAMIC_FULLY_CONNECTED": (2, 3), "REQUANTIZE": (1, 1),
    **{op: (2, 2) for op in (*_AXIS_OPS, "MUL", "SUB", "MINIMUM", "MAXIMUM", "PRELU")},
    **{op: (1, 1) for op in ("LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "LEAKY_RELU")},
}
# Op versions as TFLite's converter assigns them for int8 kernels (TFLM does not check).
_OP_VERSIONS = {
    "CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4, "AVERAGE_POOL_2D": 2,
    "MAX_POOL_2D": 2, "ADD": 2, "RESHAPE": 1, "SOFTMAX": 2, "QUANTIZE": 1, "DEQUANTIZE": 2,
    "DYNAMIC_FULLY_CONNECTED": 9,  # hybrid with asymmetric_quantize_inputs
    "REQUANTIZE": 2, "MEAN": 2, "SUM": 2, "REDUCE_MAX": 2, "ARG_MAX": 2, "ARG_MIN": 2,
    "MUL": 2, "SUB": 2, "MINIMUM": 2, "MAXIMUM": 2, "LOGISTIC": 2, "TANH": 2,
    "HARD_SWISH": 1, "RELU": 2, "RELU6": 2, "LEAKY_RELU": 2, "PRELU": 1,
}

# TFLite tensor dimensions are int32; anything larger is a corrupt file, not a model.
MAX_TENSOR_ELEMENTS = 2**31 - 1
_BUFFER_ALIGNMENT = 16  # bytes; TFLite's converter aligns constant data the same way

# What the flatbuffers accessors raise when offsets point outside or into garbage.
_ACCESSOR_ERRORS = (struct.error, IndexError, ValueError, TypeError, ArithmeticError,
                    AttributeError, KeyError, UnicodeError, RecursionError)


def supported_op_names() -> list[str]:
    """The TFLite operators the reader takes, by name."""
    return sorted({*SUPPORTED_OPS.values(), *LAYOUT_BUILTINS.values()})


def op_name(code: int) -> str:
    """TFLite's name of a builtin operator code ("builtin 999" if unknown)."""
    return BUILTIN_OPCODE2NAME.get(code, f"builtin {code}")


# ----------------------------------------------------------------------------- reading


def read_tflite(source: str | os.PathLike | bytes, source_name: str | None = None) -> Graph:
    """Parse an int8 .tflite (a path or the file's bytes) into a validated ir.Graph.

    ``source_name`` labels the model in error messages and names the graph (default: the
    path, or "<bytes>"). Raises ModelFormatError for a malformed file and UnsupportedError
    for a well-formed model edgekd cannot run.
    """
    data, label = _load_bytes(source, source_name)
    from_bytes = isinstance(source, (bytes, bytearray, memoryview))
    name = Path(label).stem if (source_name or not from_bytes) else None
    return _guarded(label, lambda: _Reader(data, label).graph(name))


def tensor_names(source: str | os.PathLike | bytes, source_name: str | None = None
                 ) -> list[str]:
    """The IR name of every TFLite tensor, indexed like the file's (only) subgraph.

    The oracle uses it to key TFLM's tensors (by index) with the names read_tflite gives.
    """
    data, label = _load_bytes(source, source_name)
    return _guarded(label, lambda: _Reader(data, label).names)


def is_legacy_uint8(source: str | os.PathLike | bytes, source_name: str | None = None) -> bool:
    """Whether the file is a legacy all-uint8 graph (read as int8; TFLM does not run it,
    LiteRT does)."""
    data, label = _load_bytes(source, source_name)

    def scan():
        reader = _Reader(data, label)
        codes = [max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()) for oc in
                 (reader.model.OperatorCodes(i) for i in range(reader._count(
                     reader.model.OperatorCodesLength(), 4, "operator code list")))]
        return reader._scan_legacy_uint8([(c, "") for c in codes])
    return _guarded(label, scan)


def io_tensor_indices(source: str | os.PathLike | bytes, source_name: str | None = None
                      ) -> tuple[list[int], list[int]]:
    """TFLite tensor indices of the subgraph's (inputs, outputs), as TFLM numbers them."""
    data, label = _load_bytes(source, source_name)

    def indices():
        reader = _Reader(data, label)
        return (reader._int_vector(reader.subgraph, "Inputs", "subgraph "),
                reader._int_vector(reader.subgraph, "Outputs", "subgraph "))
    return _guarded(label, indices)


def _load_bytes(source, source_name: str | None) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), source_name or "<bytes>"
    path = Path(source)
    return read_model_bytes(path), source_name or str(path)


def _guarded(label: str, parse: Callable):
    """Run a parse step; turn accessor failures on corrupt bytes into ModelFormatError."""
    try:
        return parse()
    except EdgeKDError:
        raise
    except _ACCESSOR_ERRORS as error:
        detail = " ".join(str(error).split())[:200]
        raise ModelFormatError(
            f"{label}: corrupted or truncated flatbuffer ({type(error).__name__}: {detail})"
        ) from None


def _printable(raw: bytes) -> str:
    """A tensor name as text: undecodable bytes and control characters become '?'."""
    text = raw.decode("utf-8", errors="replace")
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _unique(names: list[str], fallback: Callable[[int], str]) -> list[str]:
    """Deduplicate names in order: the first keeps its name, later ones get _1, _2, ..."""
    used: set[str] = set()
    next_suffix: dict[str, int] = {}
    out = []
    for index, name in enumerate(names):
        base = name or fallback(index)
        candidate = base
        while candidate in used:
            next_suffix[base] = next_suffix.get(base, 0) + 1
            candidate = f"{base}_{next_suffix[base]}"
        used.add(candidate)
        out.append(candidate)
    return out


class _Reader:
    """One parse of one file; methods raise errors that name ``label`` and the operator."""

    def __init__(self, data: bytes, label: str) -> None:
        self.data = data
        self.label = label
        if len(data) < 8 or not tflite.Model.ModelBufferHasIdentifier(data, 0):
            raise ModelFormatError(
                f"{label}: not a TFLite model (no 'TFL3' flatbuffer identifier in the header)")
        self.model = tflite.Model.GetRootAs(data, 0)
        version = self.model.Version()
        if version != SCHEMA_VERSION:
            raise UnsupportedError(f"{label}: TFLite schema version {version}; "
                                   f"supported: {SCHEMA_VERSION}")
        subgraphs = self._count(self.model.SubgraphsLength(), 4, "subgraph list")
        if subgraphs != 1:
            raise UnsupportedError(f"{label}: {subgraphs} subgraphs; only single-subgraph "
                                   "models (no control flow) are supported")
        self.subgraph = self.model.Subgraphs(0)
        self.num_tensors = self._count(self.subgraph.TensorsLength(), 4, "tensor list")
        self.num_buffers = self._count(self.model.BuffersLength(), 4, "buffer list")
        raw = [_printable(self.subgraph.Tensors(i).Name() or b"")
               for i in range(self.num_tensors)]
        self.raw_names = raw
        self.names = _unique(raw, lambda i: f"tensor_{i}")
        self.tensors: dict[int, Tensor] = {}
        # A legacy all-uint8 graph (uint8 inside, not only around QUANTIZE at the edges)
        # is read as int8: value v with zero point z is v - 128 with z - 128, scales kept.
        self.legacy_uint8 = False

    # -- low-level checks

    def _count(self, n: int, item_bytes: int, what: str, where: str = "") -> int:
        """A vector length from the file, checked against what the file can hold."""
        if n < 0 or n * item_bytes > len(self.data):
            raise ModelFormatError(f"{self.label}: {where}{what} claims {n} entries, more "
                                   f"than the {len(self.data)}-byte file can hold")
        return n

    def _int_vector(self, table, field_name: str, where: str) -> list[int]:
        length = self._count(getattr(table, f"{field_name}Length")(), 4, field_name, where)
        get = getattr(table, field_name)
        return [int(get(j)) for j in range(length)]

    # -- tensors

    def tensor(self, index: int, where: str) -> Tensor:
        """The IR tensor for TFLite tensor ``index`` (read once, then cached)."""
        if not 0 <= index < self.num_tensors:
            raise ModelFormatError(f"{self.label}: {where}tensor index {index} out of range "
                                   f"(the subgraph has {self.num_tensors} tensors)")
        if index not in self.tensors:
            self.tensors[index] = self._read_tensor(index, where)
        return self.tensors[index]

    def _read_tensor(self, index: int, where: str) -> Tensor:
        t = self.subgraph.Tensors(index)
        name = self.names[index]
        here = f"{where}tensor {index} ({name!r}): "
        type_code = t.Type()
        if type_code == _TYPE.INT16:
            raise UnsupportedError(f"{self.label}: {here}int16 (16x8 quantization) is not "
                                   "supported; edgekd runs int8 models")
        dtype = _DTYPE_OF_TYPE.get(type_code)
        if dtype is None:
            raise UnsupportedError(f"{self.label}: {here}type "
                                   f"{_TYPE_NAMES.get(type_code, type_code)} is not supported; "
                                   "supported: INT8, INT32 (bias), UINT8 and FLOAT32 (model "
                                   "boundary)")
        if dtype == "uint8" and self.legacy_uint8:
            return self._shifted_to_int8(t, name, shape_of=lambda: tuple(
                self._int_vector(t, "Shape", here)), here=here)
        if t.IsVariable():
            raise UnsupportedError(f"{self.label}: {here}variable tensors are not supported")
        if t.Sparsity() is not None:
            raise UnsupportedError(f"{self.label}: {here}sparse tensors are not supported")
        shape = tuple(self._int_vector(t, "Shape", here))
        if any(d < 1 for d in shape) or math.prod(shape) > MAX_TENSOR_ELEMENTS:
            raise ModelFormatError(f"{self.label}: {here}bad shape {list(shape)}")
        return Tensor(name=name, shape=shape, dtype=dtype,
                      quant=self._quant(t, shape, dtype, here),
                      data=self._constant_data(t, shape, dtype, here))

    def _shifted_to_int8(self, t, name: str, shape_of, here: str) -> Tensor:
        """A uint8 tensor of a legacy graph as the int8 tensor of the same real values."""
        shape = shape_of()
        if any(d < 1 for d in shape) or math.prod(shape) > MAX_TENSOR_ELEMENTS:
            raise ModelFormatError(f"{self.label}: {here}bad shape {list(shape)}")
        quant = self._quant(t, shape, "uint8", here)
        if quant is not None:
            quant = QuantParams(quant.scale, quant.zero_point - 128, quant.axis)
        data = self._constant_data(t, shape, "uint8", here)
        if data is not None:
            data = (data.astype(np.int16) - 128).astype(np.int8)
        return Tensor(name=name, shape=shape, dtype="int8", quant=quant, data=data)

    def _scan_legacy_uint8(self, codes) -> bool:
        """Whether an operator other than QUANTIZE/DEQUANTIZE reads or writes uint8."""
        for i in range(self._count(self.subgraph.OperatorsLength(), 4, "operator list")):
            op = self.subgraph.Operators(i)
            index = op.OpcodeIndex()
            if not 0 <= index < len(codes) or codes[index][0] in (_BUILTIN.QUANTIZE,
                                                                   _BUILTIN.DEQUANTIZE):
                continue
            where = f"operator {i}: "
            for k in (*self._int_vector(op, "Inputs", where),
                      *self._int_vector(op, "Outputs", where)):
                if 0 <= k < self.num_tensors and \
                        self.subgraph.Tensors(k).Type() == _TYPE.UINT8:
                    return True
        return False

    def _uint8_boundary(self, graph_nodes: list[Node], indices: list[int], inputs: bool
                        ) -> tuple[list[Node], list[Tensor]]:
        """A legacy graph's uint8 inputs (or outputs) kept uint8 for the caller: a
        REQUANTIZE (the sign flip) between each and the int8 graph."""
        nodes, tensors = [], []
        for index in indices:
            if self.subgraph.Tensors(index).Type() != _TYPE.UINT8:
                continue
            # The caller's tensor keeps the file's name; the int8 one inside is renamed.
            inner = self.tensors[index]
            outer = Tensor(inner.name, inner.shape, "uint8", QuantParams(
                inner.quant.scale, inner.quant.zero_point + 128, inner.quant.axis))
            inner.name = _fresh_name(f"{outer.name}/int8", set(self.names))
            for node in graph_nodes:
                node.inputs = [inner.name if n == outer.name else n for n in node.inputs]
                node.outputs = [inner.name if n == outer.name else n for n in node.outputs]
            pair = [outer.name, inner.name] if inputs else [inner.name, outer.name]
            nodes.append(Node("REQUANTIZE", f"{outer.name}/requantize", [pair[0]], [pair[1]]))
            tensors.append(outer)
        return nodes, tensors

    def _quant(self, t, shape: tuple[int, ...], dtype: str, here: str) -> QuantParams | None:
        q = t.Quantization()
        if q is None:
            return None
        n_scale = self._count(q.ScaleLength(), 4, "scale", here)
        if n_scale == 0:
            return None  # min/max only: the model was not quantized by the converter
        if q.DetailsType() != 0:
            raise UnsupportedError(f"{self.label}: {here}custom quantization is not supported")
        n_zp = self._count(q.ZeroPointLength(), 8, "zero_point", here)
        if n_zp != n_scale:
            raise ModelFormatError(f"{self.label}: {here}{n_scale} scales but {n_zp} "
                                   "zero points")
        scale = np.array(q.ScaleAsNumpy(), dtype=np.float32)
        zero_point = np.array(q.ZeroPointAsNumpy(), dtype=np.int64)
        bad_scale = ~(np.isfinite(scale) & (scale > 0))
        if bad_scale.any():
            raise ModelFormatError(f"{self.label}: {here}quantization scale must be finite "
                                   f"and > 0, got {scale[bad_scale][:4].tolist()}")
        low, high = _ZERO_POINT_RANGE.get(dtype, (-128, 127))
        bad_zero_point = (zero_point < low) | (zero_point > high)
        if bad_zero_point.any():
            raise ModelFormatError(f"{self.label}: {here}zero point outside the {dtype} "
                                   f"range: {zero_point[bad_zero_point][:4].tolist()}")
        axis = None
        if n_scale > 1:
            # A 1-D tensor (a bias) has one axis its scales can lie on; TFLM ignores the
            # quantized_dimension of biases, and converters leave the filter's there.
            axis = 0 if len(shape) == 1 else q.QuantizedDimension()
            if not (0 <= axis < len(shape) and shape[axis] == n_scale):
                raise ModelFormatError(f"{self.label}: {here}{n_scale} per-channel scales do "
                                       f"not fit dimension {axis} of shape {list(shape)}")
        return QuantParams(scale, zero_point, axis)

    def _constant_data(self, t, shape, dtype: str, here: str) -> np.ndarray | None:
        index = t.Buffer()
        if not 0 <= index < self.num_buffers:
            raise ModelFormatError(f"{self.label}: {here}buffer index {index} out of range "
                                   f"(the model has {self.num_buffers} buffers)")
        buffer = self.model.Buffers(index)
        offset, size = buffer.Offset(), buffer.Size()
        if offset > 1:
            # Large models keep constants after the flatbuffer, addressed from file start.
            if offset + size > len(self.data):
                raise ModelFormatError(f"{self.label}: {here}buffer {index} ({size} bytes at "
                                       f"offset {offset}) lies past the end of the file")
            raw = np.frombuffer(self.data, dtype=np.uint8, count=size, offset=offset)
        else:
            self._count(buffer.DataLength(), 1, f"buffer {index}", here)
            raw = buffer.DataAsNumpy()  # a view; numpy checks that it lies inside the file
            if isinstance(raw, int) or raw.size == 0:
                return None  # no data: an activation
        expected = math.prod(shape) * np.dtype(dtype).itemsize
        if raw.size != expected:
            raise ModelFormatError(f"{self.label}: {here}buffer {index} holds {raw.size} "
                                   f"bytes; a {dtype} tensor of shape {list(shape)} needs "
                                   f"{expected}")
        little_endian = np.dtype(dtype).newbyteorder("<")
        return raw.view(little_endian).astype(dtype).reshape(shape)

    # -- operators

    def graph(self, name: str | None) -> Graph:
        sg = self.subgraph
        n_ops = self._count(sg.OperatorsLength(), 4, "operator list")
        n_codes = self._count(self.model.OperatorCodesLength(), 4, "operator code list")
        codes = []
        for i in range(n_codes):
            oc = self.model.OperatorCodes(i)
            # Files from before builtin_code existed keep the code in the deprecated field.
            codes.append((max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()),
                          _printable(oc.CustomCode() or b"")))
        self.legacy_uint8 = self._scan_legacy_uint8(codes)
        nodes = []
        node_names = []
        for i in range(n_ops):
            for node, raw_name in self._nodes(i, sg.Operators(i), codes):
                nodes.append(node)
                node_names.append(raw_name)
        for node, unique_name in zip(nodes, _unique(node_names, lambda i: f"node_{i}")):
            node.name = unique_name
        input_indices = self._int_vector(sg, "Inputs", "subgraph ")
        output_indices = self._int_vector(sg, "Outputs", "subgraph ")
        inputs = [self.tensor(i, "graph input: ").name for i in input_indices]
        outputs = [self.tensor(i, "graph output: ").name for i in output_indices]
        for io_name in inputs:
            if self._by_name(io_name).is_constant:
                raise ModelFormatError(f"{self.label}: graph input {io_name!r} is a constant")
        extra: list[Tensor] = []
        if self.legacy_uint8:
            self._check_exact_in_int8(nodes)
            before, t_in = self._uint8_boundary(nodes, input_indices, True)
            after, t_out = self._uint8_boundary(nodes, output_indices, False)
            nodes, extra = [*before, *nodes, *after], [*t_in, *t_out]
        used = {n for node in nodes for n in (*node.inputs, *node.outputs)} | {*inputs, *outputs}
        tensors = {t.name: t for _, t in sorted(self.tensors.items()) if t.name in used}
        tensors.update({t.name: t for t in extra})
        graph_name = name or _printable(sg.Name() or b"") or "model"
        graph = Graph(name=graph_name, tensors=tensors, nodes=nodes, inputs=inputs,
                      outputs=outputs)
        try:
            return graph.validate()
        except GraphError as error:
            raise ModelFormatError(f"{self.label}: {error}") from None

    def _check_exact_in_int8(self, nodes: list[Node]) -> None:
        """Refuse a legacy uint8 graph whose int8 form would compute something else:
        TFLite's int8 kernels take symmetric weights, legacy uint8 ones any zero point."""
        for index, node in enumerate(nodes):
            if node.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                w = self._by_name(node.inputs[1])
                if w.quant is not None and (w.quant.zero_point != 0).any():
                    z = int(w.quant.zero_point[w.quant.zero_point != 0][0])
                    raise UnsupportedError(
                        f"{self.label}: legacy uint8 graph: {node.op} {node.name or index!r} "
                        f"has weights {w.name!r} with zero point {z + 128} ({z} as int8); "
                        "the int8 scheme needs symmetric weights (zero point 0), so this "
                        "graph has no exact int8 form (requantize it from float)")

    def _by_name(self, name: str) -> Tensor:
        return next(t for t in self.tensors.values() if t.name == name)

    def _nodes(self, index: int, op, codes) -> list[tuple[Node, str]]:
        """The IR nodes of one operator (several for SPLIT and its kin), each with the
        name it takes from its output."""
        code_index = op.OpcodeIndex()
        if not 0 <= code_index < len(codes):
            raise ModelFormatError(f"{self.label}: operator {index}: opcode index {code_index} "
                                   f"out of range ({len(codes)} operator codes)")
        code, custom = codes[code_index]
        ir_op = SUPPORTED_OPS.get(code)
        label = f"CUSTOM {custom!r}" if code == _BUILTIN.CUSTOM else op_name(code)
        where = f"operator {index} ({label}): "
        if ir_op is None and code not in LAYOUT_BUILTINS:
            raise UnsupportedError(f"{self.label}: {where}unsupported op; supported: "
                                   f"{', '.join(supported_op_names())}")
        in_idx = self._int_vector(op, "Inputs", where)
        out_idx = self._int_vector(op, "Outputs", where)
        if ir_op == "UNIDIRECTIONAL_SEQUENCE_LSTM":  # 24 inputs, two state tensors
            node = read_lstm(self, op, in_idx, out_idx, where)
            return [(node, self._raw_name(out_idx[0], ir_op, index))]
        while in_idx and in_idx[-1] == -1:
            in_idx.pop()  # absent trailing optional inputs (bias)
        if ir_op is None:
            nodes = LayoutReader(self).nodes(code, op, in_idx, out_idx, where)
            return [(node, self._raw_name(out, node.op, index))
                    for node, out in zip(nodes, out_idx)]
        return [self._node(index, op, ir_op, in_idx, out_idx, where)]

    def _raw_name(self, out_index: int, ir_op: str, index: int) -> str:
        # Converter names join fused ops with ';'; the first part names the layer.
        return self.raw_names[out_index].split(";")[0] or f"{ir_op.lower()}_{index}"

    def _node(self, index: int, op, ir_op: str, in_idx: list[int], out_idx: list[int],
              where: str) -> tuple[Node, str]:
        low, high = _INPUT_COUNTS[ir_op]
        if not low <= len(in_idx) <= high or len(out_idx) != 1:
            raise ModelFormatError(f"{self.label}: {where}{len(in_idx)} inputs and "
                                   f"{len(out_idx)} outputs; expected {low}..{high} inputs "
                                   "and 1 output")
        if -1 in in_idx[:low]:
            raise ModelFormatError(f"{self.label}: {where}a required input is absent (-1)")
        inputs = [self.tensor(i, where) if i != -1 else None for i in in_idx]
        output = self.tensor(out_idx[0], where)
        if ir_op == "RESHAPE":
            inputs = inputs[:1]  # the output tensor's shape is the new shape
        axis = None
        if ir_op in _AXIS_OPS:
            axis = self._axis(inputs[1], len(inputs[0].shape), where)
            inputs = inputs[:1]
        if ir_op == "FULLY_CONNECTED" and self._asymmetric_hybrid(op, inputs, where):
            ir_op = "DYNAMIC_FULLY_CONNECTED"
        if ir_op == "QUANTIZE" and inputs[0].dtype in ("int8", "uint8"):
            ir_op = "REQUANTIZE"
        self._check_dtypes(ir_op, inputs, output, where)
        attrs = self._attrs(ir_op, op, where)
        if axis is not None:
            attrs["axis"] = axis if ir_op in _REDUCER_OPS else axis[0]
        node = Node(op=ir_op, name="", inputs=[t.name if t else "" for t in inputs],
                    outputs=[output.name], attrs=attrs)
        return node, self._raw_name(out_idx[0], ir_op, index)

    def _axis(self, tensor: Tensor, rank: int, where: str) -> tuple[int, ...]:
        """A constant int32 axis tensor as sorted distinct non-negative dims."""
        if tensor.data is None or tensor.dtype != "int32":
            raise UnsupportedError(f"{self.label}: {where}axis tensor {tensor.name!r} must be "
                                   "a constant int32 tensor")
        values = [int(v) for v in tensor.data.reshape(-1)]
        if not values or any(not -rank <= v < rank for v in values):
            raise ModelFormatError(f"{self.label}: {where}axis {values} is out of range for "
                                   f"a {rank}-D input")
        return tuple(sorted({v % rank for v in values}))

    def _asymmetric_hybrid(self, op, inputs, where: str) -> bool:
        """A FULLY_CONNECTED with float32 input, int8 weights and asymmetric input
        quantization (TFLite's dynamic-range scheme edgekd runs)."""
        if (inputs[0].dtype, inputs[1].dtype) != ("float32", "int8"):
            return False
        o = self._options(op, _OPTIONS.FullyConnectedOptions, tflite.FullyConnectedOptions,
                          where, False)
        return o is not None and bool(o.AsymmetricQuantizeInputs())

    def _check_dtypes(self, ir_op: str, inputs, output: Tensor, where: str) -> None:
        here = f"{self.label}: {where}"
        x = inputs[0]
        if ir_op == "DYNAMIC_FULLY_CONNECTED":
            expected = [(x, "float32"), (inputs[1], "int8"),
                        (inputs[2] if len(inputs) > 2 else None, "float32"), (output, "float32")]
            for t, dtype in expected:
                if t is not None and t.dtype != dtype:
                    raise UnsupportedError(f"{here}hybrid FULLY_CONNECTED: tensor {t.name!r} "
                                           f"is {t.dtype}; expected {dtype}")
        elif ir_op == "QUANTIZE":
            if (x.dtype, output.dtype) != ("float32", "int8"):
                raise UnsupportedError(f"{here}{x.dtype} -> {output.dtype}; only float32 -> "
                                       "int8 at the model input is supported")
        elif ir_op == "REQUANTIZE":
            if output.dtype not in ("int8", "uint8"):
                raise UnsupportedError(f"{here}{x.dtype} -> {output.dtype}; integer QUANTIZE "
                                       "maps int8/uint8 to int8/uint8")
        elif ir_op == "DEQUANTIZE":
            if (x.dtype, output.dtype) != ("int8", "float32"):
                raise UnsupportedError(f"{here}{x.dtype} -> {output.dtype}; only int8 -> "
                                       "float32 at the model output is supported")
        else:
            # Activations and weights are int8; the third input of conv/FC is the bias.
            expected = [(t, "int32" if i == 2 else "int8") for i, t in enumerate(inputs)]
            out_dtype = "int32" if ir_op in ("ARG_MAX", "ARG_MIN") else "int8"
            for t, dtype in [*expected, (output, out_dtype)]:
                if t is None or t.dtype == dtype:
                    continue
                if t.dtype == "float32":
                    weights = inputs[1] if len(inputs) > 1 else None
                    kind = ("hybrid model (int8 weights, float32 activations)"
                            if weights is not None and weights.dtype == "int8"
                            else "float32 model")
                    raise UnsupportedError(f"{here}tensor {t.name!r} is float32: {kind} is not "
                                           "supported; quantize it to int8 first")
                raise UnsupportedError(f"{here}tensor {t.name!r} is {t.dtype}; expected {dtype}")
        for t in (*inputs, output):
            if t is not None and t.dtype in ("int8", "uint8") and t.quant is None:
                raise ModelFormatError(f"{here}int8 tensor {t.name!r} has no quantization "
                                       "parameters")

    def _options(self, op, expected_type: int, cls, where: str, required: bool):
        """The op's builtin options table as ``cls``, or None when absent and optional."""
        options_type = op.BuiltinOptionsType()
        table = op.BuiltinOptions()
        if options_type == 0 or table is None:
            if required:
                raise ModelFormatError(f"{self.label}: {where}missing builtin options")
            return None
        if options_type != expected_type:
            raise ModelFormatError(f"{self.label}: {where}builtin options of type "
                                   f"{options_type}, expected {expected_type}")
        options = cls()
        options.Init(table.Bytes, table.Pos)
        return options

    def _activation(self, code: int, where: str) -> str:
        if code not in _ACTIVATION_OF_FUSED:
            raise UnsupportedError(f"{self.label}: {where}fused activation "
                                   f"{_FUSED_NAMES.get(code, code)}; supported: NONE, RELU, "
                                   "RELU6")
        return _ACTIVATION_OF_FUSED[code]

    def _padding(self, code: int, where: str) -> str:
        if code not in _PADDING_OF_CODE:
            raise ModelFormatError(f"{self.label}: {where}unknown padding {code}")
        return _PADDING_OF_CODE[code]

    def _positive(self, values: dict[str, int], where: str) -> None:
        bad = {k: v for k, v in values.items() if v < 1}
        if bad:
            raise ModelFormatError(f"{self.label}: {where}"
                                   + ", ".join(f"{k} {v}" for k, v in bad.items())
                                   + " (must be >= 1)")

    def _attrs(self, ir_op: str, op, where: str) -> dict:
        if ir_op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            depthwise = ir_op == "DEPTHWISE_CONV_2D"
            o = (self._options(op, _OPTIONS.DepthwiseConv2DOptions,
                               tflite.DepthwiseConv2DOptions, where, True) if depthwise else
                 self._options(op, _OPTIONS.Conv2DOptions, tflite.Conv2DOptions, where, True))
            numbers = {"stride_h": o.StrideH(), "stride_w": o.StrideW(),
                       "dilation_h": o.DilationHFactor(), "dilation_w": o.DilationWFactor()}
            if depthwise:
                numbers["depth_multiplier"] = o.DepthMultiplier()
            self._positive(numbers, where)
            attrs = {"stride": (o.StrideH(), o.StrideW()),
                     "dilation": (o.DilationHFactor(), o.DilationWFactor()),
                     "padding": self._padding(o.Padding(), where),
                     "activation": self._activation(o.FusedActivationFunction(), where)}
            if depthwise:
                attrs["depth_multiplier"] = o.DepthMultiplier()
            return attrs
        if ir_op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            o = self._options(op, _OPTIONS.Pool2DOptions, tflite.Pool2DOptions, where, True)
            self._positive({"filter_h": o.FilterHeight(), "filter_w": o.FilterWidth(),
                            "stride_h": o.StrideH(), "stride_w": o.StrideW()}, where)
            return {"filter": (o.FilterHeight(), o.FilterWidth()),
                    "stride": (o.StrideH(), o.StrideW()),
                    "padding": self._padding(o.Padding(), where),
                    "activation": self._activation(o.FusedActivationFunction(), where)}
        if ir_op in ("FULLY_CONNECTED", "DYNAMIC_FULLY_CONNECTED"):
            o = self._options(op, _OPTIONS.FullyConnectedOptions,
                              tflite.FullyConnectedOptions, where, False)
            if o is None:
                return {"activation": "NONE"}
            if o.WeightsFormat() != tflite.FullyConnectedOptionsWeightsFormat.DEFAULT:
                raise UnsupportedError(f"{self.label}: {where}shuffled weights format is not "
                                       "supported")
            return {"activation": self._activation(o.FusedActivationFunction(), where)}
        if ir_op == "ADD":
            o = self._options(op, _OPTIONS.AddOptions, tflite.AddOptions, where, False)
            return {"activation": "NONE" if o is None
                    else self._activation(o.FusedActivationFunction(), where)}
        if ir_op in ("MUL", "SUB"):
            cls = tflite.MulOptions if ir_op == "MUL" else tflite.SubOptions
            kind = _OPTIONS.MulOptions if ir_op == "MUL" else _OPTIONS.SubOptions
            o = self._options(op, kind, cls, where, False)
            return {"activation": "NONE" if o is None
                    else self._activation(o.FusedActivationFunction(), where)}
        if ir_op in _REDUCER_OPS:
            o = self._options(op, _OPTIONS.ReducerOptions, tflite.ReducerOptions, where, False)
            return {"keep_dims": bool(o is not None and o.KeepDims())}
        if ir_op == "LEAKY_RELU":
            o = self._options(op, _OPTIONS.LeakyReluOptions, tflite.LeakyReluOptions, where,
                              True)
            alpha = float(o.Alpha())
            if not math.isfinite(alpha):
                raise ModelFormatError(f"{self.label}: {where}leaky relu alpha {alpha}")
            return {"alpha": alpha}
        if ir_op == "SOFTMAX":
            o = self._options(op, _OPTIONS.SoftmaxOptions, tflite.SoftmaxOptions, where, True)
            beta = float(o.Beta())
            if not (math.isfinite(beta) and beta > 0):
                raise ModelFormatError(f"{self.label}: {where}softmax beta {beta} (must be > 0)")
            return {"beta": beta}
        return {}  # RESHAPE, QUANTIZE, DEQUANTIZE, REQUANTIZE, ARG_*, unary activations


# ----------------------------------------------------------------------------- writing


@dataclass
class _OperatorRecord:
    """One operator as written: ``write_options`` builds its options table (or None)."""

    code: int
    version: int
    inputs: list[int]
    outputs: list[int]
    options_type: int = 0
    write_options: Callable[[flatbuffers.Builder], int] | None = None


@dataclass
class _ModelRecords:
    """Everything the serializer writes, in file order (tensors indexed by position)."""

    name: str
    tensors: list[Tensor]
    operators: list[_OperatorRecord]
    inputs: list[int]
    outputs: list[int]


def write_tflite(graph: Graph) -> bytes:
    """Serialize a validated int8 graph to .tflite bytes that TFLite Micro runs."""
    graph.validate()
    for t in graph.tensors.values():
        if t.is_constant and t.data.shape != t.shape:
            raise GraphError(f"graph {graph.name!r}: constant {t.name!r} holds data of shape "
                             f"{t.data.shape}, but the tensor's shape is {t.shape}")
    return _serialize(_graph_records(graph))


def save_tflite(graph: Graph, path: str | os.PathLike) -> Path:
    """Write ``graph`` to ``path`` atomically (a temp file in the same folder, renamed)."""
    path = Path(path)
    data = write_tflite(graph)
    with atomic_file(path) as f:
        f.write(data)
    return path


def _graph_records(graph: Graph) -> _ModelRecords:
    """Map IR tensors to file tensors in graph order, RESHAPE shape tensors appended."""
    tensors = list(graph.tensors.values())
    index = {t.name: i for i, t in enumerate(tensors)}
    names = set(index)
    operators = []
    for node in graph.nodes:
        inputs = [index[n] if n else -1 for n in node.inputs]
        while inputs and inputs[-1] == -1:
            inputs.pop()
        if node.op == "RESHAPE":
            new_shape = graph.tensor(node.outputs[0]).shape
            shape_name = _fresh_name(f"{node.outputs[0]}/shape", names)
            tensors.append(Tensor(shape_name, (len(new_shape),), "int32",
                                  data=np.array(new_shape, dtype=np.int32)))
            inputs.append(len(tensors) - 1)
        code = _BUILTIN_OF_OP.get(node.op)
        if node.op in LAYOUT_IR_OPS:
            code = layout_builtin(graph, node)
            for operand in layout_operands(graph, node, lambda base: _fresh_name(base, names)):
                tensors.append(operand)
                inputs.append(len(tensors) - 1)
        if node.op in _AXIS_OPS:
            axis = node.attrs["axis"]
            axis_values = np.array(axis if node.op in _REDUCER_OPS else [axis], dtype=np.int32)
            axis_name = _fresh_name(f"{node.outputs[0]}/axis", names)
            tensors.append(Tensor(axis_name, axis_values.shape, "int32", data=axis_values))
            inputs.append(len(tensors) - 1)
        options_type, write_options = _options_writer(graph, node)
        operators.append(_OperatorRecord(
            code=code, version=_op_version(graph, node),
            inputs=inputs, outputs=[index[n] for n in node.outputs],
            options_type=options_type, write_options=write_options))
    return _ModelRecords(name=graph.name, tensors=tensors, operators=operators,
                         inputs=[index[n] for n in graph.inputs],
                         outputs=[index[n] for n in graph.outputs])


def _fresh_name(base: str, names: set[str]) -> str:
    candidate, k = base, 0
    while candidate in names:
        k += 1
        candidate = f"{base}_{k}"
    names.add(candidate)
    return candidate


def _op_version(graph: Graph, node: Node) -> int:
    if node.op == "FULLY_CONNECTED" and len(graph.tensor(node.outputs[0]).shape) > 2:
        return 5  # keep_num_dims
    return _OP_VERSIONS.get(node.op, 2)  # the layout ops: their int8 version


def _options_writer(graph: Graph, node: Node):
    """(BuiltinOptions type, builder callback) for one node's options table."""
    a = node.attrs
    if node.op in LAYOUT_IR_OPS:
        return layout_options(graph, node)
    fused = _FUSED_OF_ACTIVATION.get(a.get("activation", "NONE"))
    if node.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        depthwise = node.op == "DEPTHWISE_CONV_2D"
        prefix = "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions"

        def conv(b):
            getattr(tflite, f"{prefix}Start")(b)
            getattr(tflite, f"{prefix}AddPadding")(b, _CODE_OF_PADDING[a["padding"]])
            getattr(tflite, f"{prefix}AddStrideH")(b, a["stride"][0])
            getattr(tflite, f"{prefix}AddStrideW")(b, a["stride"][1])
            getattr(tflite, f"{prefix}AddDilationHFactor")(b, a["dilation"][0])
            getattr(tflite, f"{prefix}AddDilationWFactor")(b, a["dilation"][1])
            getattr(tflite, f"{prefix}AddFusedActivationFunction")(b, fused)
            if depthwise:
                tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, a["depth_multiplier"])
            return getattr(tflite, f"{prefix}End")(b)
        return getattr(_OPTIONS, prefix), conv
    if node.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        def pool(b):
            tflite.Pool2DOptionsStart(b)
            tflite.Pool2DOptionsAddPadding(b, _CODE_OF_PADDING[a["padding"]])
            tflite.Pool2DOptionsAddStrideH(b, a["stride"][0])
            tflite.Pool2DOptionsAddStrideW(b, a["stride"][1])
            tflite.Pool2DOptionsAddFilterHeight(b, a["filter"][0])
            tflite.Pool2DOptionsAddFilterWidth(b, a["filter"][1])
            tflite.Pool2DOptionsAddFusedActivationFunction(b, fused)
            return tflite.Pool2DOptionsEnd(b)
        return _OPTIONS.Pool2DOptions, pool
    if node.op in ("FULLY_CONNECTED", "DYNAMIC_FULLY_CONNECTED"):
        keep_num_dims = len(graph.tensor(node.outputs[0]).shape) > 2
        asymmetric = node.op == "DYNAMIC_FULLY_CONNECTED"

        def fully_connected(b):
            tflite.FullyConnectedOptionsStart(b)
            tflite.FullyConnectedOptionsAddFusedActivationFunction(b, fused)
            tflite.FullyConnectedOptionsAddKeepNumDims(b, keep_num_dims)
            if asymmetric:
                tflite.FullyConnectedOptionsAddAsymmetricQuantizeInputs(b, True)
            return tflite.FullyConnectedOptionsEnd(b)
        return _OPTIONS.FullyConnectedOptions, fully_connected
    if node.op in ("ADD", "MUL", "SUB"):
        prefix = f"{node.op.capitalize()}Options"

        def arithmetic(b):
            getattr(tflite, f"{prefix}Start")(b)
            getattr(tflite, f"{prefix}AddFusedActivationFunction")(b, fused)
            return getattr(tflite, f"{prefix}End")(b)
        return getattr(_OPTIONS, prefix), arithmetic
    if node.op in _REDUCER_OPS:
        def reducer(b):
            tflite.ReducerOptionsStart(b)
            tflite.ReducerOptionsAddKeepDims(b, bool(a["keep_dims"]))
            return tflite.ReducerOptionsEnd(b)
        return _OPTIONS.ReducerOptions, reducer
    if node.op in ("ARG_MAX", "ARG_MIN"):
        prefix = "ArgMaxOptions" if node.op == "ARG_MAX" else "ArgMinOptions"

        def arg(b):
            getattr(tflite, f"{prefix}Start")(b)
            getattr(tflite, f"{prefix}AddOutputType")(b, _TYPE.INT32)
            return getattr(tflite, f"{prefix}End")(b)
        return getattr(_OPTIONS, prefix), arg
    if node.op == "LEAKY_RELU":
        def leaky_relu(b):
            tflite.LeakyReluOptionsStart(b)
            tflite.LeakyReluOptionsAddAlpha(b, a["alpha"])
            return tflite.LeakyReluOptionsEnd(b)
        return _OPTIONS.LeakyReluOptions, leaky_relu
    if node.op == "SOFTMAX":
        def softmax(b):
            tflite.SoftmaxOptionsStart(b)
            tflite.SoftmaxOptionsAddBeta(b, a["beta"])
            return tflite.SoftmaxOptionsEnd(b)
        return _OPTIONS.SoftmaxOptions, softmax
    if node.op == "RESHAPE":
        new_shape = graph.tensor(node.outputs[0]).shape

        def reshape(b):
            shape_vector = _int32_vector(b, new_shape)
            tflite.ReshapeOptionsStart(b)
            tflite.ReshapeOptionsAddNewShape(b, shape_vector)
            return tflite.ReshapeOptionsEnd(b)
        return _OPTIONS.ReshapeOptions, reshape
    return 0, None  # QUANTIZE, DEQUANTIZE, MINIMUM, MAXIMUM, the unary activations


def _int32_vector(b: flatbuffers.Builder, values) -> int:
    return b.CreateNumpyVector(np.asarray(values, dtype="<i4").reshape(-1))


def _offset_vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _aligned_bytes(b: flatbuffers.Builder, payload: bytes) -> int:
    """A ubyte vector whose data starts on a _BUFFER_ALIGNMENT boundary of the file."""
    b.StartVector(1, len(payload), _BUFFER_ALIGNMENT)
    b.head -= len(payload)
    b.Bytes[b.head:b.head + len(payload)] = payload
    b.vectorNumElems = len(payload)
    return b.EndVector()


def _serialize(records: _ModelRecords) -> bytes:
    b = flatbuffers.Builder(1024)
    # Buffers: 0 is the empty sentinel that activations point at; one per constant.
    buffer_offsets = []
    tflite.BufferStart(b)
    buffer_offsets.append(tflite.BufferEnd(b))
    tensor_buffer = []
    for t in records.tensors:
        if t.data is None:
            tensor_buffer.append(0)
            continue
        payload = np.ascontiguousarray(t.data, dtype=np.dtype(t.dtype).newbyteorder("<"))
        data_vector = _aligned_bytes(b, payload.tobytes())
        tflite.BufferStart(b)
        tflite.BufferAddData(b, data_vector)
        buffer_offsets.append(tflite.BufferEnd(b))
        tensor_buffer.append(len(buffer_offsets) - 1)

    tensor_offsets = [_write_tensor(b, t, buf) for t, buf in zip(records.tensors, tensor_buffer)]

    codes: dict[tuple[int, int], int] = {}
    operator_offsets = []
    for op in records.operators:
        code_index = codes.setdefault((op.code, op.version), len(codes))
        options = op.write_options(b) if op.write_options else None
        inputs = _int32_vector(b, op.inputs)
        outputs = _int32_vector(b, op.outputs)
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, code_index)
        tflite.OperatorAddInputs(b, inputs)
        tflite.OperatorAddOutputs(b, outputs)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, op.options_type)
            tflite.OperatorAddBuiltinOptions(b, options)
        operator_offsets.append(tflite.OperatorEnd(b))

    code_offsets = []
    for code, version in codes:
        tflite.OperatorCodeStart(b)
        # Codes above 127 live only in builtin_code; the int8 field then holds the
        # placeholder, as TFLite's schema prescribes.
        tflite.OperatorCodeAddDeprecatedBuiltinCode(
            b, min(code, _BUILTIN.PLACEHOLDER_FOR_GREATER_OP_CODES))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, version)
        code_offsets.append(tflite.OperatorCodeEnd(b))

    tensors_vector = _offset_vector(b, tensor_offsets)
    operators_vector = _offset_vector(b, operator_offsets)
    inputs_vector = _int32_vector(b, records.inputs)
    outputs_vector = _int32_vector(b, records.outputs)
    name = b.CreateString(records.name)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors_vector)
    tflite.SubGraphAddInputs(b, inputs_vector)
    tflite.SubGraphAddOutputs(b, outputs_vector)
    tflite.SubGraphAddOperators(b, operators_vector)
    tflite.SubGraphAddName(b, name)
    subgraph = tflite.SubGraphEnd(b)

    subgraphs_vector = _offset_vector(b, [subgraph])
    codes_vector = _offset_vector(b, code_offsets)
    buffers_vector = _offset_vector(b, buffer_offsets)
    description = b.CreateString("edgekd")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, SCHEMA_VERSION)
    tflite.ModelAddOperatorCodes(b, codes_vector)
    tflite.ModelAddSubgraphs(b, subgraphs_vector)
    tflite.ModelAddDescription(b, description)
    tflite.ModelAddBuffers(b, buffers_vector)
    b.Finish(tflite.ModelEnd(b), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def _write_tensor(b: flatbuffers.Builder, t: Tensor, buffer_index: int) -> int:
    if t.dtype not in _TYPE_OF_DTYPE:
        raise GraphError(f"tensor {t.name!r} has dtype {t.dtype}; a .tflite holds int8, "
                         "int32 and float32")
    quant = None
    if t.quant is not None:
        scale = b.CreateNumpyVector(np.asarray(t.quant.scale, dtype="<f4"))
        zero_point = b.CreateNumpyVector(np.asarray(t.quant.zero_point, dtype="<i8"))
        tflite.QuantizationParametersStart(b)
        tflite.QuantizationParametersAddScale(b, scale)
        tflite.QuantizationParametersAddZeroPoint(b, zero_point)
        tflite.QuantizationParametersAddQuantizedDimension(b, t.quant.axis or 0)
        quant = tflite.QuantizationParametersEnd(b)
    name = b.CreateString(t.name)
    shape = _int32_vector(b, t.shape)
    tflite.TensorStart(b)
    tflite.TensorAddShape(b, shape)
    tflite.TensorAddType(b, _TYPE_OF_DTYPE[t.dtype])
    tflite.TensorAddBuffer(b, buffer_index)
    tflite.TensorAddName(b, name)
    if quant is not None:
        tflite.TensorAddQuantization(b, quant)
    return tflite.TensorEnd(b)
