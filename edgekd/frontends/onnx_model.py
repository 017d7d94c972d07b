"""Loading an ONNX model, shared by the two converters (``onnx_qdq``, ``onnx_float``) that
``frontends/onnx.py`` chooses between.

Loading is defensive: the bytes are parsed and checked by onnx, external data is read
only from files inside the model's own folder, opsets 13 to 21 are accepted, the batch
dimension is fixed to 1, shapes are inferred and constant subgraphs (initializers, Constant
nodes, Shape -> Gather -> Concat chains feeding Reshape) are folded to arrays. Every failure
is an EdgeKDError whose one line names the file, the node and the problem.

Where onnxruntime's arithmetic differs from the TFLite int8 contract edgekd keeps, an
``OnnxSemanticsWarning`` says so at import (docs/onnx.md lists the cases).
"""
from __future__ import annotations

import importlib.util
import logging
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable, Iterator

import numpy as np

from edgekd.errors import EdgeKDError, ModelFormatError, UnsupportedError
from edgekd.frontends.source import read_model_bytes
from edgekd.shapes import conv_output_size, same_padding

log = logging.getLogger("edgekd.onnx")

OPSETS = range(13, 22)  # default-domain opsets read (13 fixed Softmax's axis semantics)
COMPUTE_OPS = (
    "Conv", "Gemm", "MatMul", "Add", "Relu", "Clip", "BatchNormalization", "MaxPool",
    "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Softmax", "Identity", "Dropout",
    "Transpose",  # only (0, 2, 3, 1) before a flatten: the NHWC order edgekd's export writes
    "Mul", "Sub", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid", "LeakyRelu", "ReduceMean",
)
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# Evaluated at import when all their inputs are constant (Shape: when the shape is static).
FOLDED_OPS = ("Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast",
              "Mul", "Sub", "Div", "Add", "Reshape", "Identity", "Transpose", "Flatten")
SUPPORTED_OPS = tuple(dict.fromkeys((*COMPUTE_OPS, *QDQ_OPS, *FOLDED_OPS)))
_CONSTANT_ONLY_OPS = tuple(op for op in FOLDED_OPS if op not in COMPUTE_OPS)
_DEFAULT_DOMAINS = ("", "ai.onnx")
MAX_FOLDED_ELEMENTS = 1 << 24  # a folded constant larger than this is not a shape computation


class OnnxSemanticsWarning(UserWarning):
    """An imported ONNX model relies on arithmetic that differs from TFLite's int8 scheme;
    edgekd computes TFLite's (see docs/onnx.md)."""


# ------------------------------------------------------------------------- loaded model


@dataclass
class OnnxNode:
    """One node left after folding. ``inputs``: "" where an optional input is absent."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict


@dataclass
class OnnxModel:
    """A checked, shape-inferred, constant-folded ONNX graph at batch size 1."""

    label: str  # the file, for messages
    name: str  # the graph's name in the IR: the file stem
    nodes: list[OnnxNode]
    constants: dict[str, np.ndarray]
    shapes: dict[str, tuple[int, ...]]  # every value's static shape
    input: str
    input_type: int  # onnx.TensorProto element type of the input
    outputs: list[str]
    consumers: dict[str, list[OnnxNode]] = field(default_factory=dict)
    warned: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for node in self.nodes:
            for name in node.inputs:
                if name:
                    self.consumers.setdefault(name, []).append(node)

    @property
    def is_qdq(self) -> bool:
        return any(node.op in QDQ_OPS for node in self.nodes)

    def describe(self, node: OnnxNode) -> str:
        return f"{self.label}: node {node.name!r} ({node.op})"

    def refuse(self, node: OnnxNode, why: str) -> UnsupportedError:
        return UnsupportedError(f"{self.describe(node)}: {why}")

    def shape(self, node: OnnxNode, value: str) -> tuple[int, ...]:
        try:
            return self.shapes[value]
        except KeyError:
            raise self.refuse(node, f"the shape of {value!r} is not static") from None

    def constant(self, node: OnnxNode, index: int, what: str) -> np.ndarray | None:
        """The node's input ``index`` as a constant array (None when absent)."""
        if index >= len(node.inputs) or not node.inputs[index]:
            return None
        value = self.constants.get(node.inputs[index])
        if value is None:
            raise self.refuse(node, f"{what} ({node.inputs[index]!r}) must be a constant")
        return value

    def warn(self, message: str) -> None:
        """One OnnxSemanticsWarning per distinct message and model."""
        if message not in self.warned:
            self.warned.add(message)
            warnings.warn(f"{self.label}: {message}", OnnxSemanticsWarning, stacklevel=2)


def load_onnx(source: str | os.PathLike | bytes, source_name: str | None = None) -> OnnxModel:
    """Parse, check, fix the batch to 1, infer shapes and fold constants."""
    if importlib.util.find_spec("onnx") is None:
        raise EdgeKDError("reading .onnx models needs the onnx package "
                          "(pip install 'edgekd[train]' or pip install onnx)")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label, folder = bytes(source), source_name or "<bytes>", None
        name = Path(source_name).stem if source_name else "model"
    else:
        path = Path(source)
        label = source_name or str(path)
        data = read_model_bytes(path)
        folder, name = path.parent, path.stem
    try:
        return _Loader(label, name, folder).load(data)
    except UnicodeDecodeError:
        # protobuf parses string fields lazily: a name that is not UTF-8 fails when read
        raise ModelFormatError(f"{label}: corrupted model (a name or string field is not "
                               "valid UTF-8)") from None


# ----------------------------------------------------------------------------- loading


def _first_line(error: BaseException) -> str:
    text = " ".join(str(error).split("\n", 1)[0].split())[:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _attribute_values(proto_node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in proto_node.attribute}


def _graphs(graph) -> Iterator:
    """The graph and every subgraph held in node attributes (If/Loop bodies)."""
    import onnx

    yield graph
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    yield from _graphs(g)


def _tensors(graph) -> Iterator:
    """Every TensorProto of a graph that can hold external data."""
    import onnx

    for g in _graphs(graph):
        yield from g.initializer
        for sparse in g.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        for node in g.node:
            for a in node.attribute:
                if a.type == onnx.AttributeProto.TENSOR:
                    yield a.t
                elif a.type == onnx.AttributeProto.TENSORS:
                    yield from a.tensors


class _Loader:
    def __init__(self, label: str, name: str, folder: Path | None) -> None:
        self.label = label
        self.name = name
        self.folder = folder

    def fail(self, message: str) -> ModelFormatError:
        return ModelFormatError(f"{self.label}: {message}")

    def load(self, data: bytes) -> OnnxModel:
        import onnx

        try:
            model = onnx.load_model_from_string(data)
        except Exception as error:  # protobuf's DecodeError and friends
            raise self.fail(f"not an ONNX model ({_first_line(error)})") from None
        if not model.HasField("graph") or not model.graph.node:
            raise self.fail("not an ONNX model (no graph nodes)")
        self.load_external_data(model)
        self.check_opsets(model)
        try:
            onnx.checker.check_model(model)
        except Exception as error:
            raise self.fail(f"invalid ONNX model ({_first_line(error)})") from None
        self.check_ops(model.graph)
        input_name, input_type = self.fix_batch(model)
        model = self.infer(model)
        nodes, constants = self.fold(model)
        model = self.infer(self.rebuilt(model, constants))
        shapes = self.static_shapes(model)
        outputs = [o.name for o in model.graph.output]
        for output in outputs:
            if output in constants or output == input_name:
                raise UnsupportedError(f"{self.label}: output {output!r} is not computed by "
                                       "the model's nodes")
        return OnnxModel(self.label, self.name, nodes, constants, shapes, input_name,
                         input_type, outputs)

    # -- external data ------------------------------------------------------------------

    def load_external_data(self, model) -> None:
        """Read tensors stored in side files, only from inside the model's folder, and only
        the bytes each tensor's shape and type need, within the budgets (edgekd/budgets.py)."""
        import onnx

        from edgekd.budgets import EXTERNAL, TENSOR

        total = 0
        for tensor in _tensors(model.graph):
            if tensor.data_location != onnx.TensorProto.EXTERNAL:
                continue
            info = {entry.key: entry.value for entry in tensor.external_data}
            location = info.get("location", "")
            what = f"tensor {tensor.name!r}: external data {location!r}"
            if self.folder is None:
                raise self.fail(f"{what}: external data needs the model read from a file")
            file = self.external_file(location, what)
            try:
                offset = int(info.get("offset", 0))
                length = int(info["length"]) if "length" in info else None
            except ValueError:
                raise self.fail(f"{what}: offset/length are not integers") from None
            needed = self.external_bytes(tensor, what)
            if length is not None and length != needed:
                raise self.fail(f"{what}: length {length}, but its type and shape need "
                                f"{needed} bytes")
            TENSOR.check(f"{self.label}: {what}", needed)
            total += needed
            EXTERNAL.check(self.label, total, "the external data")
            size = file.stat().st_size
            if offset < 0 or offset + needed > size:
                raise self.fail(f"{what}: bytes {offset}+{needed} lie outside the "
                                f"{size}-byte file")
            with open(file, "rb") as f:
                f.seek(offset)
                tensor.raw_data = f.read(needed)
            tensor.data_location = onnx.TensorProto.DEFAULT
            del tensor.external_data[:]

    def external_bytes(self, tensor, what: str) -> int:
        """The bytes a tensor's type and shape take."""
        import onnx

        if tensor.data_type == onnx.TensorProto.STRING:
            raise self.fail(f"{what}: strings cannot be stored externally")
        try:
            itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
        except (KeyError, TypeError, ValueError):
            raise self.fail(f"{what}: data type {tensor.data_type} cannot be stored "
                            "externally") from None
        count = 1
        for extent in tensor.dims:
            if extent < 0:
                raise self.fail(f"{what}: negative dimension {extent}")
            count *= int(extent)
        return count * itemsize

    def external_file(self, location: str, what: str) -> Path:
        if (not location or "\x00" in location or PurePosixPath(location).is_absolute()
                or PureWindowsPath(location).is_absolute() or PureWindowsPath(location).drive):
            raise self.fail(f"{what}: only a relative path inside the model's folder is read")
        if ".." in PurePosixPath(location).parts or ".." in PureWindowsPath(location).parts:
            raise self.fail(f"{what}: '..' in the path (files outside the model's folder are "
                            "not read)")
        folder = self.folder.resolve()
        file = (folder / location).resolve()
        if folder not in file.parents:
            raise self.fail(f"{what}: resolves outside the model's folder")
        if not file.is_file():
            raise self.fail(f"{what}: no such file in {self.folder}")
        return file

    # -- checks -------------------------------------------------------------------------

    def check_opsets(self, model) -> None:
        opsets = {entry.domain: entry.version for entry in model.opset_import}
        versions = [v for d, v in opsets.items() if d in _DEFAULT_DOMAINS]
        if not versions:
            raise self.fail("no default-domain opset in opset_import")
        opset = max(versions)
        if opset not in OPSETS:
            raise UnsupportedError(f"{self.label}: opset {opset}; supported: opsets "
                                   f"{OPSETS.start} to {OPSETS.stop - 1} (re-export the model "
                                   "with one of them)")

    def check_ops(self, graph) -> None:
        for index, node in enumerate(graph.node):
            if node.domain not in _DEFAULT_DOMAINS or node.op_type not in SUPPORTED_OPS:
                op = f"{node.domain}.{node.op_type}" if node.domain not in _DEFAULT_DOMAINS \
                    else node.op_type
                raise UnsupportedError(
                    f"{self.label}: node {node.name or index!r} ({op}): unsupported op; "
                    f"supported: {', '.join(COMPUTE_OPS)}, {', '.join(QDQ_OPS)}, and "
                    f"{', '.join(_CONSTANT_ONLY_OPS)} on constants")

    def fix_batch(self, model) -> tuple[str, int]:
        """The single input's name and element type; its first dimension set to 1."""
        import onnx

        initializers = {init.name for init in model.graph.initializer}
        inputs = [i for i in model.graph.input if i.name not in initializers]
        if len(inputs) != 1:
            raise UnsupportedError(f"{self.label}: {len(inputs)} inputs; edgekd reads models "
                                   "with exactly one input")
        tensor_type = inputs[0].type.tensor_type
        dims = tensor_type.shape.dim
        if not inputs[0].type.HasField("tensor_type") or not tensor_type.HasField("shape") \
                or len(dims) not in (2, 4):
            raise UnsupportedError(f"{self.label}: input {inputs[0].name!r} must be a tensor "
                                   "of shape (N, C, H, W) or (N, F)")
        for index, dim in enumerate(dims):
            if index == 0 and (dim.HasField("dim_param") or dim.dim_value in (0, 1)):
                dim.Clear()
                dim.dim_value = 1  # one sample per inference, as the generated C runs
            elif not dim.HasField("dim_value") or dim.dim_value < 1:
                raise UnsupportedError(f"{self.label}: input {inputs[0].name!r} dimension "
                                       f"{index} is not a fixed size")
            elif index == 0:
                raise UnsupportedError(f"{self.label}: input {inputs[0].name!r} has a fixed "
                                       f"batch of {dim.dim_value}; edgekd runs batch 1")
        # Output shapes are re-derived from the input; stale batch sizes must not clash.
        for output in model.graph.output:
            if output.type.HasField("tensor_type"):
                output.type.tensor_type.ClearField("shape")
        del model.graph.value_info[:]
        if tensor_type.elem_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.INT8,
                                         onnx.TensorProto.UINT8):
            raise UnsupportedError(f"{self.label}: input {inputs[0].name!r} is "
                                   f"{onnx.TensorProto.DataType.Name(tensor_type.elem_type)}; "
                                   "supported: float32, int8, uint8")
        return inputs[0].name, tensor_type.elem_type

    def infer(self, model):
        import onnx

        try:
            return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True,
                                                     data_prop=True)
        except Exception as error:
            raise self.fail(f"shape inference failed ({_first_line(error)})") from None

    def static_shapes(self, model) -> dict[str, tuple[int, ...]]:
        shapes = {}
        graph = model.graph
        for info in (*graph.input, *graph.value_info, *graph.output):
            tensor_type = info.type.tensor_type
            if not info.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
                continue
            dims = tensor_type.shape.dim
            if all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
                shapes[info.name] = tuple(int(d.dim_value) for d in dims)
        return shapes

    # -- constant folding ---------------------------------------------------------------

    def fold(self, model) -> tuple[list[OnnxNode], dict[str, np.ndarray]]:
        """Nodes that compute on data, and every constant (initializers and folded values).
        The protos of the kept nodes are left in ``self.kept`` for ``rebuilt``."""
        constants: dict[str, np.ndarray] = {}
        for init in model.graph.initializer:
            constants[init.name] = self.array(init, f"initializer {init.name!r}")
        shapes = self.static_shapes(model)
        nodes, self.kept = [], []
        for index, proto in enumerate(model.graph.node):
            name = proto.name or f"{proto.op_type}_{index}"
            node = OnnxNode(proto.op_type, name, list(proto.input), list(proto.output), {})
            try:
                node.attrs = _attribute_values(proto)
            except Exception as error:
                raise self.fail(f"node {name!r} ({proto.op_type}): unreadable attribute "
                                f"({_first_line(error)})") from None
            folded = self.try_fold(node, constants, shapes)
            if folded is None:
                nodes.append(node)
                self.kept.append(proto)
                continue
            for output, value in zip(node.outputs, folded):
                if output:
                    constants[output] = value
        used = {name for node in nodes for name in node.inputs}
        used.update(o.name for o in model.graph.output)
        return nodes, {k: v for k, v in constants.items() if k in used}

    def array(self, tensor, what: str) -> np.ndarray:
        import onnx

        try:
            value = onnx.numpy_helper.to_array(tensor)
        except Exception as error:
            raise self.fail(f"{what}: unreadable data ({_first_line(error)})") from None
        return np.asarray(value)

    def try_fold(self, node: OnnxNode, constants: dict, shapes: dict) -> list | None:
        if node.op not in FOLDED_OPS:
            return None
        args = [constants.get(name) if name else None for name in node.inputs]
        if node.op == "Shape":
            if node.inputs[0] not in shapes:
                return None
        elif any(name and arg is None for name, arg in zip(node.inputs, args)):
            return None
        try:
            results = _FOLDERS[node.op](node, args, shapes)
        except EdgeKDError:
            raise
        except Exception as error:  # numpy on malformed attributes or shapes
            raise self.fail(f"node {node.name!r} ({node.op}): cannot evaluate its constant "
                            f"inputs ({_first_line(error)})") from None
        for value in results:
            if value.size > MAX_FOLDED_ELEMENTS:
                raise self.fail(f"node {node.name!r} ({node.op}): folds to {value.size} "
                                "values, more than a shape computation makes")
        return results

    def rebuilt(self, model, constants: dict[str, np.ndarray]):
        """The model with the folded nodes gone and their values as initializers."""
        import onnx

        try:
            initializers = [onnx.numpy_helper.from_array(np.asarray(v), k)
                            for k, v in constants.items()]
        except Exception as error:  # an unusual dtype a Cast produced
            raise self.fail(f"cannot store a folded constant ({_first_line(error)})") from None
        new = onnx.ModelProto()
        new.CopyFrom(model)
        del new.graph.node[:]
        new.graph.node.extend(self.kept)
        del new.graph.initializer[:]
        new.graph.initializer.extend(initializers)
        return new


# Evaluators of folded ops: (node, constant args, static shapes) -> output arrays.


def _int_attr(node: OnnxNode, key: str, default: int) -> int:
    return int(node.attrs.get(key, default))


def _axes(node: OnnxNode, args: list, index: int) -> list[int] | None:
    """Axes given as an input (opset 13+) or as the older attribute."""
    if len(args) > index and args[index] is not None:
        return [int(a) for a in np.asarray(args[index]).reshape(-1)]
    if "axes" in node.attrs:
        return [int(a) for a in node.attrs["axes"]]
    return None


def _fold_constant(node, args, shapes):
    import onnx

    attrs = node.attrs
    if "value" in attrs:
        return [np.asarray(onnx.numpy_helper.to_array(attrs["value"]))]
    for key, dtype in (("value_float", np.float32), ("value_int", np.int64),
                       ("value_floats", np.float32), ("value_ints", np.int64)):
        if key in attrs:
            return [np.asarray(attrs[key], dtype=dtype)]
    raise UnsupportedError(f"Constant node {node.name!r}: only tensor, float and int values")


def _fold_shape(node, args, shapes):
    shape = np.asarray(shapes[node.inputs[0]], dtype=np.int64)
    rank = len(shape)
    start = _int_attr(node, "start", 0)
    end = _int_attr(node, "end", rank)
    return [shape[slice(start, end)]]


def _fold_gather(node, args, shapes):
    data, indices = args
    return [np.take(data, indices.astype(np.int64), axis=_int_attr(node, "axis", 0))]


def _fold_unsqueeze(node, args, shapes):
    data = args[0]
    axes = sorted(a % (data.ndim + len(_axes(node, args, 1))) for a in _axes(node, args, 1))
    for axis in axes:
        data = np.expand_dims(data, axis)
    return [data]


def _fold_squeeze(node, args, shapes):
    axes = _axes(node, args, 1)
    return [np.squeeze(args[0], axis=None if axes is None else tuple(axes))]


def _fold_concat(node, args, shapes):
    return [np.concatenate(args, axis=_int_attr(node, "axis", 0))]


def _fold_slice(node, args, shapes):
    data, starts, ends = args[:3]
    axes = args[3] if len(args) > 3 and args[3] is not None else np.arange(len(starts))
    steps = args[4] if len(args) > 4 and args[4] is not None else np.ones(len(starts), np.int64)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        size = data.shape[int(axis)]
        # ONNX clamps huge sentinels (INT64_MAX) to the dimension, as Python slicing does.
        index[int(axis)] = slice(int(max(min(start, size), -size - 1)),
                                 int(max(min(end, size), -size - 1)), int(step))
    return [data[tuple(index)]]


def _fold_cast(node, args, shapes):
    import onnx

    return [args[0].astype(onnx.helper.tensor_dtype_to_np_dtype(_int_attr(node, "to", 1)))]


def _fold_reshape(node, args, shapes):
    data, shape = args[0], [int(d) for d in args[1]]
    if not _int_attr(node, "allowzero", 0):
        shape = [data.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [data.reshape(shape)]


def _fold_transpose(node, args, shapes):
    perm = node.attrs.get("perm")
    return [np.transpose(args[0], None if perm is None else [int(p) for p in perm])]


def _fold_flatten(node, args, shapes):
    data = args[0]
    axis = _int_attr(node, "axis", 1) % max(data.ndim, 1) if data.ndim else 0
    return [data.reshape(math.prod(data.shape[:axis]), -1)]


def _fold_arithmetic(function: Callable) -> Callable:
    def fold(node, args, shapes):
        a, b = args
        result = function(a, b)
        if np.issubdtype(a.dtype, np.integer) and function is np.divide:
            result = np.trunc(result)  # ONNX integer Div truncates
        return [np.asarray(result).astype(np.result_type(a, b))]
    return fold


_FOLDERS: dict[str, Callable] = {
    "Constant": _fold_constant, "Shape": _fold_shape, "Gather": _fold_gather,
    "Unsqueeze": _fold_unsqueeze, "Squeeze": _fold_squeeze, "Concat": _fold_concat,
    "Slice": _fold_slice, "Cast": _fold_cast, "Reshape": _fold_reshape,
    "Identity": lambda node, args, shapes: [args[0]], "Transpose": _fold_transpose,
    "Flatten": _fold_flatten, "Mul": _fold_arithmetic(np.multiply),
    "Sub": _fold_arithmetic(np.subtract), "Div": _fold_arithmetic(np.divide),
    "Add": _fold_arithmetic(np.add),
}


# ------------------------------------------------------------------ shared op attributes


@dataclass(frozen=True)
class Window:
    """A conv or pool window along H and W: TFLite's padding and the explicit leading pads."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: str  # "SAME" | "VALID"
    leading: tuple[int, int]  # pads before the first row and column
    # ((top, bottom), (left, right)) of a convolution's pads neither SAME nor VALID
    # express: a PAD (input zero point) before a VALID convolution; None otherwise.
    explicit: tuple[tuple[int, int], tuple[int, int]] | None = None


def window_of(model: OnnxModel, node: OnnxNode, in_hw: tuple[int, int],
              out_hw: tuple[int, int], kernel: tuple[int, int],
              explicit: bool = False) -> Window:
    """The TFLite padding that computes what the node's pads compute; with ``explicit``
    (convolutions: zero padding), explicit pads where SAME and VALID do not; refuse
    others."""
    attrs = node.attrs
    stride = tuple(int(s) for s in attrs.get("strides", (1, 1)))
    dilation = tuple(int(d) for d in attrs.get("dilations", (1, 1)))
    if len(stride) != 2 or len(dilation) != 2 or min(stride) < 1 or min(dilation) < 1:
        raise model.refuse(node, f"strides {stride} / dilations {dilation}: expected two "
                                 "positive values (2-D windows only)")
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    valid = tuple(conv_output_size(i, k, s, d, "VALID")
                  for i, k, s, d in zip(in_hw, kernel, stride, dilation))
    same = tuple(conv_output_size(i, k, s, d, "SAME")
                 for i, k, s, d in zip(in_hw, kernel, stride, dilation))
    tflite_leading = tuple(same_padding(i, k, s, d, o)
                           for i, k, s, d, o in zip(in_hw, kernel, stride, dilation, same))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        totals = [max((o - 1) * s + (k - 1) * d + 1 - i, 0)
                  for i, k, s, d, o in zip(in_hw, kernel, stride, dilation, same)]
        leading = tuple(t // 2 if auto_pad == "SAME_UPPER" else t - t // 2 for t in totals)
    elif auto_pad == "VALID":
        leading = (0, 0)
    elif auto_pad == "NOTSET":
        pads = tuple(int(p) for p in attrs.get("pads", (0, 0, 0, 0)))
        if len(pads) != 4 or min(pads) < 0:
            raise model.refuse(node, f"pads {pads}: expected four values >= 0")
        leading = pads[:2]
    else:
        raise model.refuse(node, f"auto_pad {auto_pad!r}")
    out_hw = tuple(out_hw)
    candidates = [("VALID", valid, (0, 0)), ("SAME", same, tflite_leading)]
    if auto_pad.startswith("SAME"):
        candidates.reverse()  # where both fit (1x1 windows), keep what the file says
    for padding, size, lead in candidates:
        if out_hw == size and leading == lead:
            return Window(kernel, stride, dilation, padding, lead)
    if explicit:
        trailing = tuple(max(0, (o - 1) * s + (k - 1) * d + 1 - i - p) for i, o, k, s, d, p in
                         zip(in_hw, out_hw, kernel, stride, dilation, leading))
        return Window(kernel, stride, dilation, "VALID", (0, 0),
                      ((leading[0], trailing[0]), (leading[1], trailing[1])))
    raise model.refuse(node, f"padding {attrs.get('pads', auto_pad)} on a {in_hw[0]}x{in_hw[1]} "
                             f"input (kernel {kernel}, stride {stride}) gives {out_hw[0]}x"
                             f"{out_hw[1]}; TFLite can only express VALID {valid} or SAME "
                             f"{same} with leading padding {tflite_leading}")


def clip_activation(model: OnnxModel, node: OnnxNode) -> str:
    """RELU or RELU6 for a Relu node, or a Clip with min 0 and max 6 or no max."""
    if node.op == "Relu":
        return "RELU"
    low = model.constant(node, 1, "Clip min")
    high = model.constant(node, 2, "Clip max")
    low = float(np.asarray(low).reshape(-1)[0]) if low is not None and low.size == 1 else low
    high = float(np.asarray(high).reshape(-1)[0]) if high is not None and high.size == 1 \
        else high
    if low == 0.0 and high == 6.0:
        return "RELU6"
    if low == 0.0 and (high is None or high == math.inf):
        return "RELU"
    raise model.refuse(node, f"Clip({low}, {high}): only Clip(0, 6) as ReLU6 and Clip(0) as "
                             "ReLU are supported")


def pool_kernel(model: OnnxModel, node: OnnxNode, in_hw: tuple[int, int]) -> tuple[int, int]:
    """The pooling window of MaxPool/AveragePool (checked), or the whole map for
    GlobalAveragePool."""
    if node.op == "GlobalAveragePool":
        return tuple(in_hw)
    kernel = tuple(int(k) for k in node.attrs.get("kernel_shape", ()))
    if len(kernel) != 2 or min(kernel) < 1:
        raise model.refuse(node, f"kernel_shape {kernel}: expected a 2-D window")
    if tuple(node.attrs.get("dilations", (1, 1))) != (1, 1):
        raise model.refuse(node, "pooling with dilations")
    if int(node.attrs.get("storage_order", 0)) != 0 or len([o for o in node.outputs if o]) > 1:
        raise model.refuse(node, "MaxPool with indices output or column-major storage order")
    if node.op == "AveragePool" and int(node.attrs.get("count_include_pad", 0)) and \
            any(node.attrs.get("pads", (0, 0, 0, 0))):
        raise model.refuse(node, "AveragePool counting padded zeros (TFLite averages only "
                                 "real cells: count_include_pad=0)")
    return kernel


__all__ = ["OnnxModel", "OnnxNode", "OnnxSemanticsWarning", "SUPPORTED_OPS", "Window",
           "clip_activation", "load_onnx", "pool_kernel", "window_of"]
