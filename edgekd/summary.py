"""What a model is made of: the per-layer table and totals behind ``edgekd inspect``.

``summarize`` returns plain data (JSON-ready); ``format_summary`` renders it as an aligned
text table.
"""
from __future__ import annotations

from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.shapes import node_macs, node_params

_NAME_WIDTH = 40  # characters of a layer name shown in the text table


def summarize(graph: Graph, source: str | None = None) -> dict:
    """Layers (op, shapes, MACs, params, activation, quantization) and totals of a graph."""
    constants = {t.name: t for t in graph.tensors.values() if t.is_constant}
    layers = [_layer(graph, index, node) for index, node in enumerate(graph.nodes)]
    return {
        "model": source or graph.name,
        "inputs": [_io(graph.tensor(name)) for name in graph.inputs],
        "outputs": [_io(graph.tensor(name)) for name in graph.outputs],
        "layers": layers,
        "totals": {
            "layers": len(layers),
            "macs": sum(layer["macs"] for layer in layers),
            "params": sum(t.size for t in constants.values()),
            "weight_bytes": sum(t.nbytes for t in constants.values()),
        },
    }


def _io(t: Tensor) -> dict:
    return {"name": t.name, "dtype": t.dtype, "shape": list(t.shape),
            "quant": _activation_quant(t.quant)}


def _activation_quant(q: QuantParams | None) -> dict | None:
    if q is None:
        return None
    return {"scale": q.scalar_scale, "zero_point": q.scalar_zero_point}


def _weight_quant(q: QuantParams | None) -> dict | None:
    if q is None:
        return None
    if q.per_channel:
        return {"per_channel": True, "channels": int(q.scale.size), "axis": q.axis}
    return {"per_channel": False, "scale": q.scalar_scale}


def _layer(graph: Graph, index: int, node: Node) -> dict:
    inputs = [t for t in graph.node_inputs(node) if t is not None]
    activations = [t for t in inputs if not t.is_constant]
    weights = next((t for t in inputs if t.is_constant and t.dtype == "int8"), None)
    output = graph.tensor(node.outputs[0])
    return {
        "index": index,
        "op": node.op,
        "name": node.name,
        "input_shapes": [list(t.shape) for t in activations],
        "output_shape": list(output.shape),
        "macs": node_macs(graph, node),
        "params": node_params(graph, node),
        "activation": node.attrs.get("activation", "NONE"),
        "output_quant": _activation_quant(output.quant) if output.dtype == "int8" else None,
        "weight_quant": _weight_quant(weights.quant) if weights is not None else None,
    }


def _shape(shape: list[int]) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _quant_text(q: dict | None) -> str:
    return "" if q is None else f"s={q['scale']:.4g} zp={q['zero_point']}"


def _weight_text(q: dict | None) -> str:
    if q is None:
        return ""
    return f"w per-channel x{q['channels']}" if q["per_channel"] else f"w s={q['scale']:.4g}"


def _short(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else "..." + name[-(_NAME_WIDTH - 3):]


def _mega(n: int) -> str:
    return f"{n:,} ({n / 1e6:.2f} M)" if n >= 10_000 else f"{n:,}"


def format_summary(summary: dict) -> str:
    """The summary as an aligned text table followed by totals."""
    lines = [f"model: {summary['model']}"]
    for kind in ("inputs", "outputs"):
        for t in summary[kind]:
            lines.append(f"{kind[:-1]:>6}: {t['name']}  {t['dtype']} {_shape(t['shape'])}  "
                         f"{_quant_text(t['quant'])}".rstrip())
    header = ("#", "op", "name", "input -> output", "MACs", "params", "act", "quant")
    rows = [header]
    for layer in summary["layers"]:
        shapes = ", ".join(_shape(s) for s in layer["input_shapes"])
        quant = ", ".join(filter(None, (_quant_text(layer["output_quant"]),
                                        _weight_text(layer["weight_quant"]))))
        rows.append((str(layer["index"]), layer["op"], _short(layer["name"]),
                     f"{shapes} -> {_shape(layer['output_shape'])}", f"{layer['macs']:,}",
                     f"{layer['params']:,}", layer["activation"], quant))
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    right_aligned = {0, 4, 5}
    lines.append("")
    for row in rows:
        cells = [cell.rjust(w) if c in right_aligned else cell.ljust(w)
                 for c, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    totals = summary["totals"]
    lines += ["", f"layers: {totals['layers']}   MACs: {_mega(totals['macs'])}   "
                  f"params: {totals['params']:,}   weight bytes: {totals['weight_bytes']:,}"]
    return "\n".join(lines)
