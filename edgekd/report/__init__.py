"""Reports of a run: ``write_report(run_dir)`` writes ``report.md`` and ``plots/*.png``.

The run directory layout is docs/rundir.md: what ``edgekd demo`` or ``edgekd distill``
wrote. Modules: ``rundir`` (reading it), ``plots`` (matplotlib, Agg), ``markdown``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from edgekd.report.rundir import PLOTS_DIR, REPORT_MD, Run, load_run

PLOT_FILES = {"accuracy": "accuracy_vs_size.png", "arena": "arena.png",
              "layers": "layers.png"}


def write_report(run_dir: str | os.PathLike) -> Path:
    """Write ``report.md`` and its plots into ``run_dir``; returns the report's path.

    Everything is drawn in a temporary folder inside ``run_dir`` first and moved into place
    at the end (the old ``plots/`` is replaced as a whole).
    """
    run = load_run(run_dir)
    directory = run.directory
    staging = Path(tempfile.mkdtemp(prefix=".edgekd-report-", dir=directory))
    try:
        (staging / PLOTS_DIR).mkdir()
        text = _draw(run, staging / PLOTS_DIR)
        (staging / REPORT_MD).write_text(text, encoding="utf-8")
        old_plots = directory / PLOTS_DIR
        if old_plots.exists():
            os.replace(old_plots, staging / "old-plots")
        os.replace(staging / PLOTS_DIR, old_plots)
        os.replace(staging / REPORT_MD, directory / REPORT_MD)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory / REPORT_MD


def _draw(run: Run, plots_dir: Path) -> str:
    from edgekd.report import markdown, plots

    summary = plan = None
    layer_names: list[str] = []  # the model's layers
    arena_names: list[str] = []  # the generated code's (a fused residual ADD is no layer)
    if run.tflite is not None:
        from edgekd.codegen.render import generate_model
        from edgekd.frontends import load_model
        from edgekd.summary import summarize

        graph = load_model(run.tflite)
        summary = summarize(graph, source=run.tflite.name)
        generated = generate_model(graph, "model")
        plan = generated.plan  # the plan the generated C uses
        layer_names = [f"{layer['index']} {layer['op']}" for layer in summary["layers"]]
        arena_names = [f"{layer.index} {layer.op}" for layer in generated.layers]
        deployed = run.model(run.deployed)
        if deployed is not None and not deployed.get("weight_bytes"):
            deployed["weight_bytes"] = summary["totals"]["weight_bytes"]
    for model in run.models:
        model["deployed"] = model["key"] == run.deployed
    relative = {}
    name = run.dataset.get("name") or "the run"
    test = run.dataset.get("test")
    title = f"Test accuracy vs model size ({name}" + (f", {test} test images)" if test else ")")
    plots.plot_accuracy_vs_size(run.models, plots_dir / PLOT_FILES["accuracy"],
                                run.target_pp, title)
    relative["accuracy"] = f"{PLOTS_DIR}/{PLOT_FILES['accuracy']}"
    arena_rows: list[list[str]] = []
    layer_rows: list[list[str]] = []
    note = ""
    if summary is not None:
        plots.plot_arena(plan, arena_names, plots_dir / PLOT_FILES["arena"])
        relative["arena"] = f"{PLOTS_DIR}/{PLOT_FILES['arena']}"
        live = plots.live_arena_bytes(plan)
        for step, name in enumerate(arena_names):
            ids = sorted(p.tensor_id for p in plan.tensors.values()
                         if p.location == "arena" and p.nbytes and p.first <= step <= p.last)
            arena_rows.append([str(step), name, f"{live[step]:,}",
                               ", ".join(f"#{i}" for i in ids) or "-"])
        instructions, target = _measured_instructions(run)
        macs = [layer["macs"] for layer in summary["layers"]]
        plots.plot_layers(layer_names, macs, plots_dir / PLOT_FILES["layers"],
                          instructions, target)
        relative["layers"] = f"{PLOTS_DIR}/{PLOT_FILES['layers']}"
        total = sum(macs) or 1
        for layer in summary["layers"]:
            share = layer["macs"] / total
            estimate = ("-" if instructions is None or not layer["macs"]
                        else f"{share * instructions:,.0f}")
            layer_rows.append([str(layer["index"]), layer["op"], _short(layer["name"]),
                               "x".join(map(str, layer["output_shape"])),
                               f"{layer['macs']:,}", f"{share:.1%}", estimate])
        if instructions is None:
            note = ("MACs per layer, counted from the graph. No board measurement in this run "
                    "(no verify.json), so no instruction estimate.")
        else:
            note = (f"MACs per layer, counted from the graph. Instructions were measured for "
                    f"the whole inference on {target} ({instructions:,.0f}); per-layer "
                    "counts are not measured, so each layer's share is **estimated from its "
                    "share of the MACs**. Layers with few or no MACs (pooling, reshape) "
                    "still cost instructions, so the estimate undercounts them and "
                    "overcounts the convolutions.")
    return markdown.render(run, relative, summary, None if plan is None else plan.arena_bytes,
                           arena_rows, layer_rows, note)


def _measured_instructions(run: Run) -> tuple[float | None, str | None]:
    """Instructions per inference of the deployed model on its first board, if measured."""
    for board in (run.verify or {}).get("boards", []):
        mean = (board.get("instructions") or {}).get("mean")
        if mean is not None:
            return float(mean), board.get("target")
    deployed = run.model(run.deployed)
    board = (deployed or {}).get("board") or {}
    if board.get("instructions") is not None:
        return float(board["instructions"]), board.get("target")
    return None, None


def _short(name: str, width: int = 36) -> str:
    return name if len(name) <= width else "..." + name[-(width - 3):]


__all__ = ["load_run", "write_report"]
