"""One layer of generated code: which kernel, with which constants, on which bytes.

``layer_code`` turns one graph node into a ``LayerCode`` record that the layer templates
(``templates/layers/<template>.c.j2``) lay out as text. The integer parameters come from
the offline prepare functions (edgekd.reference.params) so the C computes from exactly
the integers the numpy reference uses; constants (weights, biases, per-channel
multipliers and shifts) become ``WeightArray`` records for ``<name>_weights.c``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from edgekd.codegen.identifiers import c_comment_name
from edgekd.codegen.planner import ARENA, INPUT, OUTPUT, ArenaPlan
from edgekd.errors import UnsupportedError
from edgekd.ir import Graph, Node, Tensor
from edgekd.registry import op_spec
from edgekd.shapes import node_macs

C_TYPES = {"int8": "int8_t", "int32": "int32_t", "float32": "float"}

# op -> layer template (templates/layers/<template>.c.j2). The C kernel and the prepare
# function come from edgekd.registry, the table the reference interpreter uses too.
LAYER_TEMPLATES = {
    "CONV_2D": "conv",
    "DEPTHWISE_CONV_2D": "conv",
    "FULLY_CONNECTED": "fully_connected",
    "AVERAGE_POOL_2D": "pool",
    "MAX_POOL_2D": "pool",
    "ADD": "add",
    "SOFTMAX": "softmax",
    "RESHAPE": "reshape",
    "QUANTIZE": "quantize",
    "DEQUANTIZE": "quantize",
}

# The dtypes each op's kernel takes: (inputs, outputs); constants are checked by the IR.
_DTYPES = {
    "QUANTIZE": ("float32", "int8"),
    "DEQUANTIZE": ("int8", "float32"),
}


@dataclass(frozen=True)
class WeightArray:
    """One const array of ``<name>_weights.c``."""

    symbol: str
    ctype: str
    values: np.ndarray  # flat, already in the C type's range
    comment: str

    @property
    def count(self) -> int:
        return int(self.values.size)

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)

    def rows(self) -> list[str]:
        """The initializer, as lines of comma-separated numbers (fixed width per type)."""
        per_line, width = (16, 4) if self.values.dtype.itemsize == 1 else (6, 11)
        numbers = [f"{int(v):>{width}}" for v in self.values]
        return [", ".join(numbers[i:i + per_line]) + ","
                for i in range(0, len(numbers), per_line)]


@dataclass(frozen=True)
class TensorUse:
    """One row of a layer's comment block, and the C expression that reaches the data."""

    role: str
    name: str
    dtype: str
    shape: tuple[int, ...]
    where: str
    ptr: str


@dataclass
class LayerCode:
    """Everything a layer template needs, as ready-to-paste C text or plain numbers."""

    index: int
    op: str
    name: str  # comment-safe
    template: str
    kernel: str
    macs: int
    uses: list[TensorUse]
    params: list[tuple[str, int]] = field(default_factory=list)
    dims: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    consts: dict[str, str] = field(default_factory=dict)
    scalars: dict[str, str] = field(default_factory=dict)
    scratch: tuple[int, int] | None = None  # (offset, bytes)
    taps: list[tuple[int, str, int]] = field(default_factory=list)  # id, pointer, bytes
    poison: list[tuple[int, int]] = field(default_factory=list)  # (offset, bytes)
    needs_memmove: bool = False

    @property
    def ptr(self) -> dict[str, str]:
        return {u.role: u.ptr for u in self.uses}


def scratch_bytes(graph: Graph, index: int, node: Node) -> int:
    """Scratch the chosen kernel needs, in bytes: 0 for every portable kernel of
    runtime_c/ (the host verification checks this against ekd_*_scratch_size)."""
    return 0


def layer_code(graph: Graph, plan: ArenaPlan, index: int, node: Node, model: str,
               weights: dict[str, WeightArray]) -> LayerCode:
    """The generated code of layer ``index``; adds its constants to ``weights``."""
    if node.op not in LAYER_TEMPLATES:
        raise UnsupportedError(f"graph {graph.name!r}: layer {index} ({node.op} "
                               f"{node.name!r}): no C kernel for this op")
    template = LAYER_TEMPLATES[node.op]
    spec = op_spec(node.op)
    where = f"graph {graph.name!r}: layer {index} ({node.op} {node.name!r})"
    computed = [n for n in node.inputs if n and not graph.tensor(n).is_constant]
    data_operands = 2 if node.op == "ADD" else 1
    if len(computed) != data_operands or graph.tensor(node.inputs[0]).is_constant:
        raise UnsupportedError(f"{where}: the C kernel takes its data operands from earlier "
                               "layers; constant data operands are not supported")
    _check_dtypes(where, graph, node)
    x = graph.tensor(node.inputs[0])
    y = graph.tensor(node.outputs[0])
    uses = [_activation_use(graph, plan, "input" if i == 0 else f"input{i + 1}", n, const=True)
            for i, n in enumerate(node.inputs) if n and not graph.tensor(n).is_constant]
    uses.append(_activation_use(graph, plan, "output", y.name, const=False))
    layer = LayerCode(index=index, op=node.op, name=c_comment_name(node.name),
                      template=template, kernel=spec.c_kernel or "",
                      macs=node_macs(graph, node), uses=uses)
    p = spec.prepare(graph, node) if spec.prepare else None
    prefix = f"{model}_l{index}"

    if template in ("conv", "fully_connected"):
        w = graph.tensor(node.inputs[1])
        b = graph.tensor(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
        layer.params = _struct_fields(p, skip=("multiplier", "shift"))
        filter_symbol = _const(weights, graph, w.name, f"{prefix}_filter",
                               f"layer {index} {_describe_weights(w)}")
        layer.consts["filter"] = filter_symbol
        layer.consts["bias"] = (_const(weights, graph, b.name, f"{prefix}_bias",
                                       f"layer {index} bias int32 [{b.shape[0]}]")
                                if b is not None else "NULL")
        channels = len(p.multiplier)
        layer.consts["multiplier"] = _array(weights, f"{prefix}_multiplier", p.multiplier,
                                            f"layer {index} requantization multipliers "
                                            f"(Q31), one per output channel [{channels}]")
        layer.consts["shift"] = _array(weights, f"{prefix}_shift", p.shift,
                                       f"layer {index} requantization shifts "
                                       f"(> 0: left), one per output channel [{channels}]")
        uses.insert(1, TensorUse("filter", c_comment_name(w.name), w.dtype, w.shape,
                                 filter_symbol, filter_symbol))
        if template == "conv":
            layer.dims = {"input": _nhwc(x.shape), "filter": _nhwc(w.shape),
                          "output": _nhwc(y.shape)}
            layer.scratch = _scratch(plan, index)
        else:
            batches = x.size // w.shape[1]
            layer.dims = {"input": (batches, 1, 1, w.shape[1]),
                          "filter": (w.shape[0], 1, 1, w.shape[1]),
                          "output": (batches, 1, 1, w.shape[0])}
    elif template == "pool":
        layer.params = _struct_fields(p)
        layer.dims = {"input": _nhwc(x.shape), "output": _nhwc(y.shape)}
    elif template in ("add", "softmax"):
        layer.params = _struct_fields(p)
        depth = y.shape[-1] if y.shape else 1
        layer.scalars = {"size": str(y.size), "rows": str(y.size // depth), "depth": str(depth)}
    elif template == "quantize":
        layer.scalars = {"scale": c_float(p.scale), "zero_point": str(p.zero_point),
                         "size": str(y.size)}
    elif template == "reshape":
        layer.needs_memmove = not plan.same_storage(x.name, y.name)
        layer.scalars = {"bytes": str(y.nbytes)}

    for name in node.outputs:
        placement = plan.placement(name)
        layer.taps.append((placement.tensor_id, _pointer(plan, name, "const void"),
                           placement.nbytes))
    layer.poison = plan.dead_after(index)
    return layer


def c_float(value: float) -> str:
    """A C float literal that reads back as exactly ``float32(value)``."""
    text = f"{float(np.float32(value)):.9g}"
    if not any(ch in text for ch in ".en"):
        text += ".0"
    return text + "f"


def _check_dtypes(where: str, graph: Graph, node: Node) -> None:
    want_in, want_out = _DTYPES.get(node.op, ("int8", "int8"))
    tensors = [(graph.tensor(n), want_in) for n in node.inputs
               if n and not graph.tensor(n).is_constant]
    tensors += [(graph.tensor(n), want_out) for n in node.outputs]
    for tensor, want in tensors:
        if tensor.dtype != want:
            raise UnsupportedError(f"{where}: tensor {tensor.name!r} is {tensor.dtype}; "
                                   f"the C kernel takes {want}")
    for n in node.inputs[1:2]:
        t = graph.tensor(n) if n else None
        if t is not None and t.is_constant and t.dtype != "int8":
            raise UnsupportedError(f"{where}: weights {t.name!r} are {t.dtype}; the C kernel "
                                   "takes int8")


def _pointer(plan: ArenaPlan, name: str, ctype: str) -> str:
    p = plan.placement(name)
    if p.location == INPUT:
        return "input->data" if ctype != "const void" else "(const void *)input->data"
    if p.location == OUTPUT:
        return "output->data" if ctype != "const void" else "(const void *)output->data"
    return f"({ctype} *)(arena + {p.offset})"


def _activation_use(graph: Graph, plan: ArenaPlan, role: str, name: str,
                    const: bool) -> TensorUse:
    t = graph.tensor(name)
    p = plan.placement(name)
    ctype = ("const " if const else "") + C_TYPES[t.dtype]
    where = (f"arena[{p.offset} .. {p.offset + p.nbytes})" if p.location == ARENA
             else f"caller's {p.location} buffer")
    if p.alias_of:
        where += f", shares {c_comment_name(p.alias_of)}"
    return TensorUse(role, c_comment_name(name), t.dtype, t.shape, where,
                     _pointer(plan, name, ctype))


def _scratch(plan: ArenaPlan, index: int) -> tuple[int, int] | None:
    s = plan.scratch.get(index)
    return (s.offset, s.nbytes) if s is not None and s.nbytes else None


def _struct_fields(record, skip: tuple[str, ...] = ()) -> list[tuple[str, int]]:
    return [(f.name, int(getattr(record, f.name))) for f in dataclasses.fields(record)
            if f.name not in skip]


def _nhwc(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    if len(shape) != 4:
        raise UnsupportedError(f"expected a 4-D NHWC shape, got {shape}")
    return tuple(int(d) for d in shape)


def _describe_weights(w: Tensor) -> str:
    q = w.quant
    scales = "per-channel scales" if q is not None and q.scale.size > 1 else "per-tensor scale"
    return f"weights {w.dtype} {list(w.shape)}, {scales}"


def _const(weights: dict[str, WeightArray], graph: Graph, tensor: str, symbol: str,
           comment: str) -> str:
    """The symbol of a constant tensor's array; a tensor shared by layers is emitted once."""
    key = f"tensor:{tensor}"
    if key not in weights:
        t = graph.tensor(tensor)
        weights[key] = WeightArray(symbol, C_TYPES[t.dtype],
                                   np.ascontiguousarray(t.data, dtype=t.dtype).reshape(-1),
                                   comment)
    return weights[key].symbol


def _array(weights: dict[str, WeightArray], symbol: str, values: np.ndarray,
           comment: str) -> str:
    weights[f"array:{symbol}"] = WeightArray(symbol, "int32_t",
                                             np.asarray(values, dtype=np.int32).reshape(-1),
                                             comment)
    return symbol
