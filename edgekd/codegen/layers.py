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
from edgekd.codegen import kernels
from edgekd.codegen.layout import layout_plan
from edgekd.codegen.prepare import LayerRecord, layer_record
from edgekd.codegen.residual import conv_of, residual_of
from edgekd.codegen.planner import ARENA, INPUT, OUTPUT, ArenaPlan
from edgekd.codegen.ranges import range_problem
from edgekd.errors import UnsupportedError
from edgekd.ir import Graph, Node, Tensor
from edgekd.reference.lstm import GATES
from edgekd.registry import op_spec
from edgekd.codegen import geometry
from edgekd.reference.activations import lookup_table
from edgekd.shapes import (
    ELEMENTWISE_BINARY_OPS,
    REDUCE_OPS,
    UNARY_OPS,
    is_broadcast_add,
    node_macs,
)

C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int32": "int32_t", "float32": "float"}

# The C struct of each reduction's and binary op's parameters (None: it takes none).
_PARAM_STRUCTS = {"MEAN": "ekd_reduce_params", "SUM": "ekd_reduce_params",
                  "MUL": "ekd_mul_params", "SUB": "ekd_add_params",
                  "PRELU": "ekd_prelu_params", "ADD": "ekd_add_params"}


@dataclass(frozen=True)
class WeightArray:
    """One const array of ``<name>_weights.c``."""

    symbol: str
    ctype: str
    values: np.ndarray  # flat, already in the C type's range
    comment: str
    # The C condition under which a kernel reads it (None: always defined); e.g. the
    # folded bias of a Helium kernel exists only where EKD_HAVE_MVE is 1. ``neutral``:
    # whether a build without target-specific kernels holds it.
    guard: str | None = None
    neutral: bool = True

    @property
    def count(self) -> int:
        return int(self.values.size)

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)

    def rows(self) -> list[str]:
        """The initializer, as lines of comma-separated numbers (fixed width per type)."""
        if self.values.dtype.kind == "f":
            per_line, width = 5, 16
            numbers = [f"{c_float(v):>{width}}" for v in self.values]
        else:
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


@dataclass(frozen=True)
class KernelCall:
    """One kernel call of a layer's ``#if`` chain: the condition that selects it (None:
    the ``#else``, every other target), the function and the filter and bias it takes.
    ``condition``: when the call runs, the conditions of the calls before it accounted
    for (None: always, the layer's only call); ``neutral``: whether a build without any
    target-specific kernels runs it."""

    guard: str | None
    kernel: str
    filter: str
    bias: str
    condition: str | None = None
    neutral: bool = True
    tap_sums: str | None = None  # the direct kernels' per-tap weight sums
    residual: bool = False  # takes an ekd_residual last (NULL where nothing is fused)
    # (offset, bytes) of its scratch past the end of the shared plan, or None: the
    # layer's planned scratch (kernel_table.KernelVariant.past_plan)
    past_scratch: tuple[int, int] | None = None


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
    params: list[tuple[str, int | str]] = field(default_factory=list)  # str: C literal
    dims: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    consts: dict[str, str] = field(default_factory=dict)
    scalars: dict[str, str] = field(default_factory=dict)
    scratch: tuple[int, int] | None = None  # (offset, bytes)
    # A fused residual ADD's ekd_add_params fields (codegen/fusion.py); empty: none.
    residual_params: list[tuple[str, int]] = field(default_factory=list)
    taps: list[tuple[int, str, int]] = field(default_factory=list)  # id, pointer, bytes
    poison: list[tuple[int, int]] = field(default_factory=list)  # (offset, bytes)
    needs_memmove: bool = False
    # Target-specific kernels first, the neutral one last; empty or one entry: a plain
    # call of ``kernel``.
    calls: list[KernelCall] = field(default_factory=list)
    # Layout layers (template "copy"): the byte PAD fills the output with first (None:
    # no fill), then one ekd_copy_s8 per operand: {"fields", "source", "destination"}.
    fill: int | None = None
    copies: list[dict] = field(default_factory=list)
    # A reduction's or binary op's geometry struct fields (codegen/geometry.py).
    shape: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ptr(self) -> dict[str, str]:
        return {u.role: u.ptr for u in self.uses}


def layer_code(graph: Graph, plan: ArenaPlan, index: int, node: Node, model: str,
               weights: dict[str, WeightArray]) -> LayerCode:
    """The generated code of layer ``index``; adds its constants to ``weights``."""
    spec = op_spec(node.op)
    template = spec.template
    residual = residual_of(node)
    op = node.op + (" + ADD" if residual else "")
    where = f"graph {graph.name!r}: layer {index} ({op} {node.name!r})"
    computed = [n for n in node.inputs if n and not graph.tensor(n).is_constant]
    binary = node.op in ELEMENTWISE_BINARY_OPS or is_broadcast_add(graph, node)
    data_operands = 2 if node.op == "ADD" or residual else 1
    copies_constants = template == "copy"  # a constant operand is copied from its array
    if binary:  # a broadcast ADD too; a constant operand becomes a const array (below)
        template = "broadcast"
    elif not copies_constants and (len(computed) != data_operands
                                   or graph.tensor(node.inputs[0]).is_constant):
        raise UnsupportedError(f"{where}: the C kernel takes its data operands from earlier "
                               "layers; constant data operands are not supported")
    _check_dtypes(where, graph, node, spec.dtypes)
    x = graph.tensor(node.inputs[0])
    y = graph.tensor(node.outputs[0])
    if residual:
        roles = ["input", "residual"]
    else:
        roles = ["input", *(f"input{k}" for k in range(2, len(node.inputs) + 1))]
    if binary:
        uses = [_constant_use(graph, weights, role, n, f"{model}_l{index}_{role}", index)
                if graph.tensor(n).is_constant else
                _activation_use(graph, plan, role, n, const=True)
                for role, n in zip(roles, node.inputs)]
    else:
        uses = [_activation_use(graph, plan, role, n, const=True)
                for role, n in zip(roles, computed)]
    uses.append(_activation_use(graph, plan, "output", y.name, const=False))
    record = layer_record(graph, node)
    # The kernel every target can run (the record's candidates list it last): an
    # optimized one where the layer allows, else the portable one.
    neutral = record.neutral
    layer = LayerCode(index=index, op=op, name=c_comment_name(node.name),
                      template=template, kernel=neutral.kernel if neutral else "",
                      macs=node_macs(graph, conv_of(node)), uses=uses)
    if binary:  # constant operands are arrays the layer reads
        layer.consts.update({role: layer.ptr[role] for role, n in zip(roles, node.inputs)
                             if graph.tensor(n).is_constant})
    # A fused layer's convolution requantizes to its own output first (fusion.py).
    p = record.params
    if template != "lut":  # a table's C reads no parameters (a uint8 range is fine there)
        _check_ranges(where, p)
    if residual:
        add = record.residual_params
        _check_ranges(where, add)
        if residual.conv_operand == 1:  # the kernels take the convolution as input 1
            add = _swap_add_inputs(add)
        layer.residual_params = _struct_fields(add)
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
            layer.calls = _kernel_calls(record, plan, layer, prefix, weights)
        else:
            batches = x.size // w.shape[1]
            layer.dims = {"input": (batches, 1, 1, w.shape[1]),
                          "filter": (w.shape[0], 1, 1, w.shape[1]),
                          "output": (batches, 1, 1, w.shape[0])}
            layer.calls = _kernel_calls(record, plan, layer, prefix, weights)
    elif template == "lstm":
        _lstm(layer, graph, plan, node, p, prefix, weights)
    elif template == "dynamic_fully_connected":
        _dynamic_fully_connected(layer, graph, plan, node, p, prefix, weights)
    elif template == "pool":
        layer.params = _struct_fields(p)
        layer.dims = {"input": _nhwc(x.shape), "output": _nhwc(y.shape)}
        layer.calls = _kernel_calls(record, plan, layer, prefix, weights)
    elif template == "copy":
        _layout_layer(layer, graph, plan, node, prefix, weights)
    elif template in ("resize_nearest", "resize_bilinear"):
        layer.dims = {"input": _nhwc(x.shape), "output": _nhwc(y.shape)}
        for table in ("y_table", "x_table"):
            values = getattr(p, table)
            layer.consts[table] = _array(weights, f"{prefix}_{table}", values,
                                         f"layer {index} per output {table[0]}: the input "
                                         f"{table[0]} it reads {values.shape}")
    elif template == "lut":
        table = lookup_table(spec.reference, p, x.dtype)
        layer.consts["table"] = _array(weights, f"{prefix}_table", table,
                                       f"layer {index} {node.op} output byte of each input "
                                       f"{x.dtype} byte, read as int8 -128 .. 127 [256]",
                                       ctype="int8_t")
        # A uint8 side (REQUANTIZE at the model boundary) is passed as its bytes.
        layer.scalars = {
            "size": str(y.size),
            "input": _as_int8(layer.ptr["input"], x.dtype, "const int8_t *"),
            "output": _as_int8(layer.ptr["output"], y.dtype, "int8_t *")}
    elif template in ("reduce", "broadcast"):
        struct = _PARAM_STRUCTS.get(node.op)
        layer.params = _struct_fields(p, skip=("axis",)) if struct else []
        layer.scalars = {"params_struct": struct or ""}
        if template == "reduce":
            fields = geometry.reduce_shape(x.shape, p.axis)
        else:
            fields = geometry.broadcast_shape(x.shape, graph.tensor(node.inputs[1]).shape,
                                              y.shape)
        layer.shape = [(name, "{" + ", ".join(map(str, values)) + "}")
                       for name, values in fields.items()]
    elif template == "quantize":
        layer.scalars = {"scale": c_float(p.scale), "zero_point": str(p.zero_point),
                         "size": str(y.size)}
    elif template == "reshape":
        layer.needs_memmove = not plan.same_storage(x.name, y.name)
        layer.scalars = {"bytes": str(y.nbytes)}
    else:  # add, softmax, and by default the template of a new op
        _elementwise(layer, record, plan, prefix, weights)

    for name in node.outputs:
        placement = plan.placement(name)
        layer.taps.append((placement.tensor_id, _pointer(plan, name, "const void"),
                           placement.nbytes))
    layer.poison = plan.dead_after(index)
    return layer


def _layout_layer(layer: LayerCode, graph: Graph, plan: ArenaPlan, node: Node, prefix: str,
                  weights: dict[str, WeightArray]) -> None:
    """The fill and copies of a layout layer (codegen/layout.py); constant operands are
    arrays of <name>_weights.c."""
    lp = layout_plan(graph, node)
    y = graph.tensor(node.outputs[0])
    out = _pointer(plan, y.name, "uint8_t")
    layer.fill = lp.fill
    layer.scalars = {"bytes": str(y.nbytes)}
    for k, copy in enumerate(lp.copies):
        t = graph.tensor(copy.source)
        source = (_const(weights, graph, t.name, f"{prefix}_operand{k}",
                         f"layer {layer.index} constant operand {t.dtype} {list(t.shape)}")
                  if t.is_constant else _pointer(plan, t.name, "const uint8_t"))
        layer.copies.append({
            "fields": copy.fields(),
            "source": f"(const uint8_t *){source} + {copy.src_offset}",
            "destination": f"(uint8_t *){out} + {copy.dst_offset}"})


def _as_int8(pointer: str, dtype: str, ctype: str) -> str:
    """``pointer`` as the int8 pointer a byte kernel takes (a cast for uint8 data)."""
    return f"({ctype}){pointer}" if dtype == "uint8" else pointer


def _check_ranges(where: str, params) -> None:
    """Refuse parameters the C runtime would refuse at every call (codegen/ranges.py)."""
    problem = range_problem(params) if params is not None else None
    if problem:
        raise UnsupportedError(f"{where}: {problem}, which the C runtime does not take")


def _elementwise(layer: LayerCode, record: LayerRecord, plan: ArenaPlan, prefix: str,
                 weights: dict[str, WeightArray]) -> None:
    """What an op without a template-specific layout gets: its parameter record as the
    params struct, sizes as scalars (``size``; ``rows`` x ``depth`` over the last axis),
    NHWC dims where its tensors are 4-D, and an ``#if`` chain where it has variants."""
    graph, node = record.graph, record.node
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    layer.params = _struct_fields(record.params) if record.params is not None else []
    if len(x.shape) == 4 and len(y.shape) == 4:
        layer.dims = {"input": _nhwc(x.shape), "output": _nhwc(y.shape)}
    if len(record.variants) > 1:
        layer.calls = _kernel_calls(record, plan, layer, prefix, weights)
    depth = y.shape[-1] if y.shape else 1
    layer.scalars = {"size": str(y.size), "rows": str(y.size // depth), "depth": str(depth)}


def _lstm(layer: LayerCode, graph: Graph, plan: ArenaPlan, node: Node, p, prefix: str,
          weights: dict[str, WeightArray]) -> None:
    """The params (per-gate arrays as C initializers), the 12 constants and the scratch
    (gates and both states) of an UNIDIRECTIONAL_SEQUENCE_LSTM layer."""
    layer.params = [(f.name, "{ " + ", ".join(str(int(v)) for v in value) + " }"
                     if isinstance(value, tuple) else int(value))
                    for f in dataclasses.fields(p) for value in [getattr(p, f.name)]]
    # One const per array (consts["bias2"]: the cell gate's bias), gates in GATES order.
    for k, name in enumerate(node.inputs[1:]):
        kind = ("input_weights", "recurrent_weights", "bias")[k // 4]
        gate = GATES[k % 4]
        t = graph.tensor(name)
        layer.consts[f"{kind}{k % 4}"] = _const(
            weights, graph, name, f"{prefix}_{kind}_{gate}",
            f"layer {layer.index} {kind} of the {gate} gate {t.dtype} "
            f"[{', '.join(map(str, t.shape))}]")
    layer.scratch = _scratch(plan, layer.index)


def _swap_add_inputs(p):
    """ADD parameters with inputs 1 and 2 exchanged (the sum commutes exactly)."""
    return dataclasses.replace(
        p, input1_offset=p.input2_offset, input1_multiplier=p.input2_multiplier,
        input1_shift=p.input2_shift, input2_offset=p.input1_offset,
        input2_multiplier=p.input1_multiplier, input2_shift=p.input1_shift)


def _dynamic_fully_connected(layer: LayerCode, graph: Graph, plan: ArenaPlan, node: Node,
                             p, prefix: str, weights: dict[str, WeightArray]) -> None:
    """The constants, dims and scratch of a DYNAMIC_FULLY_CONNECTED layer."""
    w = graph.tensor(node.inputs[1])
    b = graph.tensor(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    index = layer.index
    layer.params = [("activation_min", c_float(p.activation_min)),
                    ("activation_max", c_float(p.activation_max))]
    filter_symbol = _const(weights, graph, w.name, f"{prefix}_filter",
                           f"layer {index} {_describe_weights(w)}")
    layer.consts["filter"] = filter_symbol
    layer.consts["bias"] = (_const(weights, graph, b.name, f"{prefix}_bias",
                                   f"layer {index} bias float32 [{b.shape[0]}]")
                            if b is not None else "NULL")
    scale_symbol = f"{prefix}_filter_scale"
    weights[f"array:{scale_symbol}"] = WeightArray(
        scale_symbol, "float", np.asarray(p.weight_scale, dtype=np.float32).reshape(-1),
        f"layer {index} weight scales (float32), one per output channel [{w.shape[0]}]")
    layer.consts["filter_scale"] = scale_symbol
    layer.uses.insert(1, TensorUse("filter", c_comment_name(w.name), w.dtype, w.shape,
                                   filter_symbol, filter_symbol))
    batches = graph.tensor(node.inputs[0]).size // w.shape[1]
    layer.dims = {"input": (batches, 1, 1, w.shape[1]), "filter": (w.shape[0], 1, 1, w.shape[1]),
                  "output": (batches, 1, 1, w.shape[0])}
    layer.scratch = _scratch(plan, index)


# filter form (kernel_table.Kernel.filter) -> symbol suffix, C type, and what the
# comment says of the packing (w: the model's weights, n: the packed array's size)
_FILTER_FORMS = {
    "packed4": ("_filter_packed", "int8_t",
                lambda w, n: f"blocks of 4 channels, each [{w.shape[1] * w.shape[2]} taps][4]"),
    "packed16": ("_filter_packed", "int8_t",
                 lambda w, n: f"each output channel's row padded with zeros to "
                              f"{n // w.shape[0]} bytes"),
    "rows4": ("_filter_rows4", "int8_t",
              lambda w, n: f"blocks of 4 output channels x 4 values [{n // 16}][4][4]"),
}


def _kernel_calls(record: LayerRecord, plan: ArenaPlan, layer: LayerCode, prefix: str,
                  weights: dict[str, WeightArray]) -> list[KernelCall]:
    """The layer's candidate kernels (codegen/prepare.py) as calls, with the folded bias
    and packed filter arrays the target-specific ones read, guarded by their condition."""
    graph, node, p = record.graph, conv_of(record.node), record.params
    calls = []
    for variant in record.variants:
        filter_symbol = layer.consts.get("filter", "NULL")
        bias_symbol = layer.consts.get("bias", "NULL")
        w = graph.tensor(node.inputs[1]) if variant.filter != "model" or \
            variant.bias != "model" or variant.tap_sums else None
        packed = kernels.PACKERS[variant.filter](w.data) if w is not None else None
        if variant.filter in _FILTER_FORMS:
            suffix, ctype, describe = _FILTER_FORMS[variant.filter]
            filter_symbol = prefix + suffix
            weights[f"array:{filter_symbol}"] = WeightArray(
                filter_symbol, ctype, packed,
                f"layer {layer.index} weights for {variant.kernel}: "
                f"{describe(w, packed.size)}", guard=variant.guard)
        elif variant.filter == "winograd":
            symbol = f"{prefix}_filter_winograd"
            weights[f"array:{symbol}"] = WeightArray(
                symbol, "int16_t", packed,
                f"layer {layer.index} Winograd F(2x2, 3x3) weights for {variant.kernel}: "
                f"G2 g G2^T per channel pair, [16][{w.shape[0]} out][{w.shape[3]} in] in "
                "blocks of 4 x 4", guard=variant.guard)
            filter_symbol = f"(const int8_t *){symbol}"  # the kernels' filter type
        if variant.bias == "folded":
            b = graph.tensor(node.inputs[2]).data if len(node.inputs) > 2 and \
                node.inputs[2] else None
            bias_symbol = f"{prefix}_bias_folded"
            folded = kernels.folded_bias(w.data, b, p.input_offset,
                                         depthwise=node.op == "DEPTHWISE_CONV_2D")
            weights[f"array:{bias_symbol}"] = WeightArray(
                bias_symbol, "int32_t", folded,
                f"layer {layer.index} bias + input_offset ({p.input_offset}) x the sum of "
                f"each output channel's weights, for {variant.kernel} [{folded.size}]",
                guard=variant.guard)
        tap_sums = None
        if variant.tap_sums:
            tap_sums = f"{prefix}_tap_sums"
            weights[f"array:{tap_sums}"] = WeightArray(
                tap_sums, "int32_t", kernels.tap_sums(w.data).reshape(-1),
                f"layer {layer.index} sums of each tap's weights, for windows reaching "
                f"into the padding [{w.shape[1] * w.shape[2]} taps][{w.shape[0]}]",
                guard=variant.guard)
        past = (plan.arena_bytes, variant.scratch) if variant.past_plan and variant.scratch \
            else None
        calls.append(KernelCall(variant.guard, variant.kernel, filter_symbol, bias_symbol,
                                tap_sums=tap_sums, residual=variant.residual,
                                past_scratch=past))
    if any(call.filter != layer.consts.get("filter") for call in calls):
        # The model's array exists only in the builds whose kernel reads it: the comment,
        # shared by every build, names none.
        layer.uses = [dataclasses.replace(use, where="in each kernel's own form, below")
                      if use.role == "filter" else use for use in layer.uses]
    return _with_conditions(calls)


def _with_conditions(calls: list[KernelCall]) -> list[KernelCall]:
    """The calls with the condition under which each runs in the ``#if`` chain."""
    if len(calls) <= 1:
        return calls
    done: list[str] = []  # negated guards of the calls before
    result = []
    for call in calls:
        if call.guard is None:
            condition = " && ".join(done) if done else None
        else:
            condition = " && ".join([*done, call.guard])
            done.append(f"!{call.guard}")
        result.append(dataclasses.replace(call, condition=condition,
                                          neutral=call.guard is None))
    return result


def guard_weights(layers: list[LayerCode], weights: list[WeightArray]) -> list[WeightArray]:
    """The weight arrays some layer's kernel reads, each guarded by the conditions under
    which one does: an array only a target-specific kernel reads is defined only where
    that kernel is compiled in; an array no kernel reads is left out."""
    uses: dict[str, list[KernelCall | None]] = {}  # None: read unconditionally
    for layer in layers:
        chained = {"filter", "bias"} if layer.calls else set()
        for role, expression in layer.consts.items():
            if role not in chained:
                uses.setdefault(_symbol_of(expression), []).append(None)
        readers: dict[str, list[KernelCall]] = {}
        for call in layer.calls if chained else ():
            for symbol in {_symbol_of(call.filter), _symbol_of(call.bias),
                           _symbol_of(call.tap_sums or "NULL")}:
                readers.setdefault(symbol, []).append(call)
        for symbol, calls in readers.items():
            # Read by every kernel of the chain: whichever the build picks.
            uses.setdefault(symbol, []).extend(calls if len(calls) < len(layer.calls)
                                               else [None])
    guarded = []
    for array in weights:
        readers = uses.get(array.symbol)
        if not readers:
            continue
        if any(reader is None or reader.condition is None for reader in readers):
            guarded.append(dataclasses.replace(array, guard=None, neutral=True))
            continue
        conditions = sorted({reader.condition for reader in readers})
        guard = conditions[0] if len(conditions) == 1 else \
            " || ".join(f"({c})" for c in conditions)
        guarded.append(dataclasses.replace(array, guard=guard,
                                           neutral=any(r.neutral for r in readers)))
    return guarded


def _symbol_of(expression: str) -> str:
    """The array a C argument names: ``sym`` or a cast ``(const int8_t *)sym``."""
    return expression.rsplit(")", 1)[-1].strip()


def c_float(value: float) -> str:
    """A C float literal that reads back as exactly ``float32(value)``."""
    text = f"{float(np.float32(value)):.9g}"
    if not any(ch in text for ch in ".en"):
        text += ".0"
    return text + "f"


def _check_dtypes(where: str, graph: Graph, node: Node, dtypes: tuple[str, str]) -> None:
    want_in, want_out = dtypes
    tensors = [(graph.tensor(n), want_in) for n in node.inputs
               if n and not graph.tensor(n).is_constant]
    tensors += [(graph.tensor(n), want_out) for n in node.outputs]
    for tensor, want in tensors:
        if tensor.dtype not in (want if isinstance(want, tuple) else (want,)):
            raise UnsupportedError(f"{where}: tensor {tensor.name!r} is {tensor.dtype}; "
                                   f"the C kernel takes {want}")
    for n in node.inputs[1:2]:
        t = graph.tensor(n) if n else None
        if t is not None and t.is_constant and t.dtype != "int8":
            raise UnsupportedError(f"{where}: weights {t.name!r} are {t.dtype}; the C kernel "
                                   "takes int8")


def _pointer(plan: ArenaPlan, name: str, ctype: str) -> str:
    p = plan.placement(name)
    if p.location in (INPUT, OUTPUT):
        data = f"{p.location}->{plan.io_member(p)}"
        return data if ctype != "const void" else f"(const void *){data}"
    return arena_pointer(p.tensor_id)


def arena_pointer(tensor_id: int) -> str:
    """The named pointer the generated invoke declares for an arena tensor."""
    return f"tensor{tensor_id}"


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
           comment: str, ctype: str = "int32_t") -> str:
    dtype = np.int8 if ctype == "int8_t" else np.int32
    weights[f"array:{symbol}"] = WeightArray(symbol, ctype,
                                             np.asarray(values, dtype=dtype).reshape(-1),
                                             comment)
    return symbol


def _constant_use(graph: Graph, weights: dict[str, WeightArray], role: str, name: str,
                  symbol: str, index: int) -> TensorUse:
    """A constant data operand (a binary op's) as a const array of the weights file."""
    t = graph.tensor(name)
    symbol = _const(weights, graph, name, symbol,
                    f"layer {index} constant {role} {t.dtype} {list(t.shape)}")
    return TensorUse(role, c_comment_name(name), t.dtype, t.shape, symbol, symbol)
