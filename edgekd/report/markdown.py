"""report.md: the run's tables in Markdown, with the plots embedded."""
from __future__ import annotations

from edgekd.report.rundir import Run


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _count(value) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def _table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def models_table(run: Run) -> list[str]:
    """One row per model: method, precision, parameters, weight bytes, accuracy, gap."""
    teacher = run.teacher
    top = teacher["test_accuracy"] if teacher else None
    rows = []
    for m in run.models:
        gap = ("" if top is None or m is teacher or m["test_accuracy"] is None
               else f"{100 * (m['test_accuracy'] - top):+.2f} pp")
        label = m["label"] + (" **(deployed)**" if m["key"] == run.deployed else "")
        rows.append([label, m.get("method") or "", m["precision"], _count(m["params"]),
                     _count(m.get("weight_bytes")), _percent(m["test_accuracy"]), gap])
    return _table(["model", "method", "precision", "params", "weight bytes",
                   "test accuracy", "vs teacher"], rows, right={3, 4, 5, 6})


def deployment_table(run: Run, summary: dict | None, plan_bytes: int | None) -> list[str]:
    """What the deployed model costs and whether every check was bit-exact."""
    rows = []
    if summary is not None:
        totals = summary["totals"]
        rows.append(["layers", f"{totals['layers']}"])
        rows.append(["MACs per inference", f"{totals['macs']:,}"])
        rows.append(["constants (weights, biases)", f"{totals['weight_bytes']:,} bytes"])
    if plan_bytes is not None:
        rows.append(["arena (planned)", f"{plan_bytes:,} bytes"])
    verify = run.verify or {}
    host = verify.get("host")
    if host:
        verdict = "yes" if host.get("bit_exact") else f"NO ({host.get('mismatches')} mismatching)"
        rows.append([f"bit-exact on the host ({host.get('inputs')} inputs)",
                     f"{verdict}: {'; '.join(host.get('compared', []))}"])
    for board in verify.get("boards", []):
        target = board.get("target")
        verdict = "yes" if board.get("bit_exact") else f"NO ({board.get('mismatches')} mismatching)"
        rows.append([f"bit-exact on {target} ({board.get('inputs')} inputs)",
                     f"{verdict}: {'; '.join(board.get('compared', []))}"])
        instructions = board.get("instructions") or {}
        if instructions.get("mean") is not None:
            per_mac = board.get("instructions_per_mac")
            rows.append([f"instructions per inference on {target}",
                         f"{instructions['mean']:,.0f} (±{instructions.get('error')})"
                         + (f", {per_mac:.2f} per MAC" if per_mac else "")])
        rows.append([f"flash on {target}", f"{board.get('flash_bytes', 0):,} bytes"])
        rows.append([f"RAM on {target}", f"{board.get('ram_bytes', 0):,} bytes (stack "
                                         f"{board.get('stack_bytes', 0):,}, arena "
                                         f"{board.get('arena_bytes', 0):,})"])
    if not rows:
        return []
    return _table(["", "value"], rows)


def render(run: Run, plots: dict[str, str], summary: dict | None, plan_bytes: int | None,
           arena_rows: list[list[str]], layer_rows: list[list[str]],
           layer_note: str) -> str:
    """The whole report.md. ``plots`` maps a plot's key to its path relative to the run."""
    name = run.dataset.get("name") or "?"
    lines = [f"# edgekd run: {name}", ""]
    sizes = [f"{run.dataset[k]} {k}" for k in ("train", "val", "test") if k in run.dataset]
    if sizes:
        lines += [f"Dataset `{name}`: {', '.join(sizes)} images"
                  + (f" (1 test image = {100 / run.dataset['test']:.2f} pp)."
                     if run.dataset.get("test") else "."), ""]
    lines += ["## Models", ""] + models_table(run) + [""]
    teacher, deployed = run.teacher, run.model(run.deployed)
    if run.target_pp is not None and teacher and deployed:
        gap = 100 * (teacher["test_accuracy"] - deployed["test_accuracy"])
        met = "met" if gap <= run.target_pp + 1e-9 else "NOT met"
        lines += [f"Goal: the deployed int8 student within {run.target_pp:g} pp of the float "
                  f"teacher: {met} ({gap:.2f} pp below).", ""]
    if "accuracy" in plots:
        lines += [f"![Test accuracy vs model size]({plots['accuracy']})", ""]
    lines += ["## Deployed model", ""]
    if run.tflite is None:
        lines += ["No `model.tflite` in this run (a float-only run): no arena or layer "
                  "figures.", ""]
    else:
        lines += [f"`{run.tflite.name}`"
                  + (f", C sources in `{run.c_dir.name}/`" if run.c_dir else "") + ".", ""]
        lines += deployment_table(run, summary, plan_bytes) + [""]
    if "arena" in plots:
        lines += ["### Arena", "",
                  "Bytes of the static arena in use while each layer runs (the planner's "
                  "placement, as the generated C uses it; the model's input and output live "
                  "in the caller's buffers).", "",
                  f"![Arena usage across layers]({plots['arena']})", ""]
        lines += _table(["#", "layer", "live bytes", "tensors live"], arena_rows,
                        right={0, 2}) + [""]
    if "layers" in plots:
        lines += ["### Layers", "", layer_note, "",
                  f"![MACs and instruction share per layer]({plots['layers']})", ""]
        lines += _table(["#", "op", "name", "output", "MACs", "share of MACs",
                         "instructions (est.)"], layer_rows, right={0, 4, 5, 6}) + [""]
    if run.stages or run.seconds is not None:
        lines += ["## Time", ""]
        rows = [[stage, f"{seconds:.1f}"] for stage, seconds in run.stages.items()]
        if run.seconds is not None:
            rows.append(["**total**", f"**{run.seconds:.1f}**"])
        lines += _table(["stage", "seconds"], rows, right={1}) + [""]
    if run.config:
        lines += ["## Configuration", "", "```"]
        lines += [f"{key}: {value}" for key, value in run.config.items()]
        lines += ["```", ""]
    return "\n".join(lines)
