"""The report's plots, drawn with matplotlib's Agg canvas (no display, no pyplot state).

- ``plot_accuracy_vs_size``: test accuracy against weight bytes for every model of a run.
- ``plot_arena``: bytes live in the arena at each layer, and where each tensor sits.
- ``plot_layers``: MACs per layer and each layer's share of the instructions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from edgekd.codegen.planner import ARENA, ArenaPlan

DPI = 110
_TEACHER_COLOR = "#333333"
_PLAIN_COLOR = "#1f77b4"  # students trained on labels alone
_KD_COLOR = "#d62728"  # students trained with the teacher


def _figure(width: float, height: float, rows: int = 1, **grid):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, **grid)
    return figure, axes


def _save(figure, path: Path) -> Path:
    figure.savefig(path, format="png", metadata={"Software": None})
    return path


def _si_bytes(value: float, _position=None) -> str:
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value:g} B"


def _spread(values: list[float], gap: float) -> list[float]:
    """``values`` moved apart (keeping their order) until neighbours are ``gap`` apart,
    centred on where they were: label positions that do not overlap."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    placed = [values[i] for i in order]
    for k in range(1, len(placed)):
        placed[k] = max(placed[k], placed[k - 1] + gap)
    shift = (sum(values[i] for i in order) - sum(placed)) / len(placed)
    result = [0.0] * len(values)
    for k, i in enumerate(order):
        result[i] = placed[k] + shift
    return result


def plot_accuracy_vs_size(models: Sequence[dict], path: Path,
                          target_pp: float | None = None, title: str = "") -> Path:
    """One point per model with an accuracy and a size: x = weight bytes (log scale),
    y = test accuracy in %. Float32 models are circles, int8 squares; red means trained
    with the teacher, a black edge the deployed model. A band marks ``target_pp`` points
    below the teacher."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator

    points = [m for m in models if m.get("test_accuracy") is not None and m.get("weight_bytes")]
    figure, ax = _figure(7.5, 4.8)
    teacher = next((m for m in points if m["role"] == "teacher"), None)
    accuracies = [100 * m["test_accuracy"] for m in points]
    low_y = min(accuracies + ([100 * teacher["test_accuracy"] - (target_pp or 0)]
                              if teacher else []), default=0.0)
    high_y = max(accuracies, default=100.0)
    span = max(high_y - low_y, 1.0)
    bottom, top = low_y - 0.15 * span, high_y + 0.15 * span
    ax.set_ylim(bottom, top)
    if teacher is not None:
        best = 100 * teacher["test_accuracy"]
        ax.axhline(best, color=_TEACHER_COLOR, lw=0.8, ls="--")
        if target_pp:
            ax.axhspan(best - target_pp, best, color="#2ca02c", alpha=0.12, lw=0)
            ax.text(0.99, best - target_pp, f"within {target_pp:g} pp of the teacher ",
                    transform=ax.get_yaxis_transform(), ha="right", va="bottom", fontsize=8,
                    color="#2ca02c")
    # labels of models of one size (the int8 students) are stacked apart, linked by a line;
    # the smallest models' labels go to their left, the others' to their right
    groups: dict[float, list[dict]] = {}
    for m in points:
        groups.setdefault(m["weight_bytes"], []).append(m)
    smallest = min(groups, default=0)
    for size, group in groups.items():
        left = size == smallest and len(groups) > 1
        ys = [100 * m["test_accuracy"] for m in group]
        label_ys = _spread(ys, gap=0.115 * (top - bottom))
        for m, y, label_y in zip(group, ys, label_ys):
            color = (_TEACHER_COLOR if m["role"] == "teacher"
                     else _KD_COLOR if m.get("teacher") else _PLAIN_COLOR)
            marker = "s" if m["precision"] == "int8" else "o"
            ax.scatter([size], [y], s=70, color=color, marker=marker, zorder=3,
                       edgecolors="black" if m.get("deployed") else "none", linewidths=1.8)
            name = "teacher" if m["role"] == "teacher" else m.get("method") or m["label"]
            text = (f"{name}, {m['precision']}" + (" (deployed)" if m.get("deployed") else "")
                    + f"\n{y:.2f}%, {m['params']:,} params")
            ax.annotate(text, (size, y), xytext=(size / 1.35 if left else size * 1.35, label_y),
                        textcoords="data", fontsize=8, va="center", color=color,
                        ha="right" if left else "left",
                        arrowprops={"arrowstyle": "-", "color": "gray", "lw": 0.6,
                                    "shrinkA": 0, "shrinkB": 4})
    ax.set_xscale("log")
    if points:
        sizes = [m["weight_bytes"] for m in points]
        ax.set_xlim(min(sizes) / (12 if len(groups) > 1 else 2.5), max(sizes) * 12)
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_major_formatter(FuncFormatter(_si_bytes))
    ax.set_xlabel("weights, log scale (float32: 4 bytes per parameter; int8: the model's "
                  "constants)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or "Accuracy vs model size")
    ax.grid(True, which="major", alpha=0.3)
    legend = [Line2D([], [], marker="o", ls="", color=_TEACHER_COLOR, label="teacher"),
              Line2D([], [], marker="o", ls="", color=_PLAIN_COLOR, label="student, no teacher"),
              Line2D([], [], marker="o", ls="", color=_KD_COLOR, label="student, with teacher"),
              Line2D([], [], marker="o", ls="", color="gray", label="float32"),
              Line2D([], [], marker="s", ls="", color="gray", label="int8")]
    ax.legend(handles=legend, fontsize=8, loc="lower right", ncols=1)
    return _save(figure, path)


def live_arena_bytes(plan: ArenaPlan, scratch: bool = True) -> list[int]:
    """Bytes of the arena in use at each layer: the union of the byte ranges of the
    tensors live at that step (tensors planned in place share bytes) and, with
    ``scratch``, the layer's kernel scratch."""
    live = []
    for step in range(plan.num_steps):
        spans = [(p.offset, p.offset + p.nbytes) for p in plan.tensors.values()
                 if p.location == ARENA and p.nbytes and p.first <= step <= p.last]
        placed = plan.scratch.get(step)
        if scratch and placed is not None and placed.nbytes:
            spans.append((placed.offset, placed.offset + placed.nbytes))
        live.append(_union_length(spans))
    return live


def _union_length(spans: list[tuple[int, int]]) -> int:
    total, end = 0, None
    for start, stop in sorted(spans):
        if end is None or start >= end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def plot_arena(plan: ArenaPlan, layer_names: Sequence[str], path: Path) -> Path:
    """Top: bytes live in the arena at each layer (activations and kernel scratch), with
    the arena size. Bottom: the arena's memory map, one box per tensor from the layer that
    writes it to the last that reads it, at its planned offset, and each layer's scratch."""
    from matplotlib.patches import Patch, Rectangle

    steps = plan.num_steps
    total = live_arena_bytes(plan)
    tensors = live_arena_bytes(plan, scratch=False)
    scratch = [t - a for t, a in zip(total, tensors)]
    figure, (top, bottom) = _figure(7.5, 6.6, rows=2, sharex=True,
                                    gridspec_kw={"height_ratios": [1, 1.5]})
    top.bar(range(steps), tensors, color="#1f77b4", width=0.7, label="activations")
    top.bar(range(steps), scratch, bottom=tensors, color="lightgray", edgecolor="gray",
            width=0.7, label="kernel scratch")
    top.axhline(plan.arena_bytes, color="#d62728", lw=1, ls="--",
                label=f"arena {plan.arena_bytes:,} B")
    for step, value in enumerate(total):
        top.text(step, value, f"{value:,}", ha="center", va="bottom", fontsize=7)
    top.set_ylabel("live bytes")
    top.set_ylim(0, max(plan.arena_bytes, max(total, default=0)) * 1.3 or 1)
    top.set_title("Arena: bytes in use while each layer runs")
    top.legend(fontsize=8, loc="upper right", ncols=3)
    top.grid(True, axis="y", alpha=0.3)

    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    arena = sorted((p for p in plan.tensors.values() if p.location == ARENA and p.nbytes),
                   key=lambda p: p.tensor_id)
    for index, p in enumerate(arena):
        bottom.add_patch(Rectangle((p.first - 0.42, p.offset), p.last - p.first + 0.84,
                                   p.nbytes, facecolor=colors[index % len(colors)], alpha=0.6,
                                   edgecolor="black", lw=0.6, hatch="//" if p.alias_of else None))
        bottom.text(p.first - 0.38, p.offset + p.nbytes / 2, f"#{p.tensor_id} {p.nbytes:,} B",
                    fontsize=7, va="center")
    for s in plan.scratch.values():
        if s.nbytes:
            bottom.add_patch(Rectangle((s.layer - 0.42, s.offset), 0.84, s.nbytes,
                                       facecolor="lightgray", edgecolor="gray", lw=0.6))
            bottom.text(s.layer, s.offset + s.nbytes / 2, f"scratch\n{s.nbytes:,} B",
                        fontsize=7, ha="center", va="center", color="dimgray")
    bottom.set_xlim(-0.6, steps - 0.4)
    bottom.set_ylim(0, max(plan.arena_bytes, 1))
    bottom.set_ylabel("arena offset (bytes)")
    bottom.set_title("Memory map: tensor #id from the layer that writes it to the last that "
                     "reads it", fontsize=9)
    bottom.legend(handles=[Patch(facecolor="white", edgecolor="black", hatch="//",
                                 label="written over its input (in place)"),
                           Patch(facecolor="lightgray", edgecolor="gray",
                                 label="kernel scratch")],
                  fontsize=7, loc="upper right")
    bottom.set_xticks(range(steps))
    bottom.set_xticklabels(layer_names, rotation=30, ha="right", fontsize=8)
    bottom.grid(True, axis="y", alpha=0.3)
    figure.text(0.01, 0.005, "The model's input and output live in the caller's buffers, "
                "not in the arena.", fontsize=7, color="dimgray")
    return _save(figure, path)


def plot_layers(layer_names: Sequence[str], macs: Sequence[int], path: Path,
                instructions: float | None = None, target: str | None = None) -> Path:
    """MACs per layer (horizontal bars), labelled with each layer's share of the MACs
    and, given the measured ``instructions`` per inference, the instructions that share
    stands for: an estimate that assumes a layer's instructions follow its MACs."""
    total = sum(macs) or 1
    figure, ax = _figure(7.5, 0.4 * len(macs) + 1.4)
    positions = list(range(len(macs)))[::-1]  # first layer on top
    ax.barh(positions, macs, color="#1f77b4", height=0.65)
    for y, value in zip(positions, macs):
        share = value / total
        label = f"{value:,} MACs, {share:.1%}"
        if instructions is not None:
            label += f" ≈ {share * instructions:,.0f} instr." if value else " (not estimated)"
        ax.text(value, y, "  " + label, va="center", fontsize=8)
    ax.set_yticks(positions)
    ax.set_yticklabels(layer_names, fontsize=8)
    from matplotlib.ticker import FuncFormatter

    ax.set_xlim(0, max(macs, default=1) * 1.9 or 1)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("multiply-accumulates per inference")
    title = "MACs per layer"
    if instructions is not None:
        title += (f"; share of {instructions:,.0f} instructions on {target} "
                  "(estimated from MACs)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    return _save(figure, path)


def plot_analysis(analysis, path: Path) -> Path:
    """`edgekd analyze --plot`: per layer, the measured instructions (or the MACs without a
    board) and the arena bytes live while it runs, with the weight bytes it reads."""
    layers = analysis.layers
    names = [f"{layer.index} {layer.op}" for layer in layers]
    measured = analysis.instructions is not None
    work = [layer.instructions if measured else layer.macs for layer in layers]
    figure, (top, bottom) = _figure(7.5, 6.0, rows=2, sharex=True)
    positions = list(range(len(layers)))
    top.bar(positions, work, color="#1f77b4", width=0.7)
    top.set_ylabel(f"instructions on {analysis.target}" if measured else "MACs")
    top.set_title(f"{analysis.name}: " + ("instructions per layer (measured, QEMU -icount)"
                                          if measured else "MACs per layer"), fontsize=10)
    bottom.bar([p - 0.18 for p in positions], [l.live_bytes for l in layers], width=0.36,
               color="#2ca02c", label="arena bytes live (RAM)")
    bottom.bar([p + 0.18 for p in positions], [l.weight_bytes for l in layers], width=0.36,
               color="#ff7f0e", label="weight bytes read (flash)")
    bottom.set_ylabel("bytes")
    bottom.legend(fontsize=8)
    bottom.set_xticks(positions)
    bottom.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    for ax in (top, bottom):
        ax.grid(True, axis="y", alpha=0.3)
    return _save(figure, path)
