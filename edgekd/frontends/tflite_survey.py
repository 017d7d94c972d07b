"""The whole of a .tflite model, supported or not: every operator with its tensors' types
and shapes, and every blocker (operator, op, node, why) instead of only the first.

``edgekd inspect`` prints this when ``read_tflite`` refuses a model, so that a user sees at
once everything that stands between the model and edgekd.
"""
from __future__ import annotations

import os

from edgekd.errors import EdgeKDError
from edgekd.frontends import tflite as tfl


def survey_tflite(source: str | os.PathLike) -> dict:
    """{"model", "operators": [{index, op, node, inputs, outputs, blocked}], "blockers":
    [{index, op, node, message}]}; tensors as "type [shape]" strings."""
    data, label = tfl._load_bytes(source, None)
    return tfl._guarded(label, lambda: _survey(tfl._Reader(data, label), label))


def _survey(reader, label: str) -> dict:
    sg, model = reader.subgraph, reader.model
    codes = []
    for i in range(reader._count(model.OperatorCodesLength(), 4, "operator code list")):
        oc = model.OperatorCodes(i)
        codes.append((max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()),
                      tfl._printable(oc.CustomCode() or b"")))
    reader.legacy_uint8 = reader._scan_legacy_uint8(codes)
    operators, blockers, nodes = [], [], []
    for i in range(reader._count(sg.OperatorsLength(), 4, "operator list")):
        op = sg.Operators(i)
        code, custom = codes[op.OpcodeIndex()] if 0 <= op.OpcodeIndex() < len(codes) \
            else (-1, "")
        name = f"CUSTOM {custom!r}" if code == tfl._BUILTIN.CUSTOM else tfl.op_name(code)
        outs = [k for k in _indices(op.OutputsAsNumpy()) if 0 <= k < reader.num_tensors]
        node_name = reader.raw_names[outs[0]].split(";")[0] if outs else ""
        row = {"index": i, "op": name, "node": node_name,
               "inputs": [_describe(reader, k) for k in _indices(op.InputsAsNumpy())],
               "outputs": [_describe(reader, k) for k in outs], "blocked": False}
        try:
            nodes += [node for node, _ in reader._nodes(i, op, codes)]
        except EdgeKDError as error:
            row["blocked"] = True
            message = str(error).removeprefix(f"{label}: ").removeprefix(
                f"operator {i} ({name}): ")
            blockers.append({"index": i, "op": name, "node": node_name,
                             # the list of supported ops: `edgekd ops`
                             "message": message.split("; supported: ")[0]})
        operators.append(row)
    if reader.legacy_uint8 and not blockers:
        try:
            reader._check_exact_in_int8(nodes)
        except EdgeKDError as error:
            blockers.append({"index": None, "op": "graph", "node": "",
                             "message": str(error).removeprefix(f"{label}: ")})
    return {"model": label, "operators": operators, "blockers": blockers}


def _indices(values) -> list[int]:
    return [] if isinstance(values, int) else [int(k) for k in values]


def _describe(reader, index: int) -> str:
    if index < 0:
        return "-"
    if index >= reader.num_tensors:
        return "?"
    t = reader.subgraph.Tensors(index)
    shape = "x".join(str(d) for d in _indices(t.ShapeAsNumpy())) or "scalar"
    return f"{tfl._TYPE_NAMES.get(t.Type(), t.Type())} {shape}"


def format_survey(survey: dict) -> str:
    """The survey as a table, then one line per blocker."""
    blocked = {}
    for b in survey["blockers"]:
        blocked[b["op"]] = blocked.get(b["op"], 0) + 1
    lines = [f"model: {survey['model']}   operators: {len(survey['operators'])}   "
             f"blockers: {len(survey['blockers'])}"
             + (" (" + ", ".join(f"{op} x{n}" for op, n in sorted(blocked.items())) + ")"
                if blocked else ""), ""]
    width = max([2] + [len(r["op"]) for r in survey["operators"]])
    for r in survey["operators"]:
        tensors = f"{', '.join(r['inputs'])} -> {', '.join(r['outputs'])}"
        lines.append(f"{r['index']:>3}  {'BLOCKED' if r['blocked'] else 'ok':<7}  "
                     f"{r['op']:<{width}}  {r['node'][:40]:<40}  {tensors}")
    if survey["blockers"]:
        lines += ["", "blockers:"]
        for b in survey["blockers"]:
            where = f"operator {b['index']} " if b["index"] is not None else ""
            lines.append(f"  {where}({b['op']}) node {b['node']!r}: {b['message']}")
    return "\n".join(lines)
