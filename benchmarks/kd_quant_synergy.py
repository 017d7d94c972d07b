"""Does distillation help quantization? Test accuracy of a small student on digits, over seeds.

    .venv/bin/python benchmarks/kd_quant_synergy.py [--seeds 0 1 2] [--settings digits narrow]
        [--epochs 150] [--qat-epochs 10] [--jobs 2] [--out out/kd_quant_synergy]

For each seed a float teacher (DigitsCNN width 32, cross-entropy; shared by the settings),
and for each setting and seed the student trained

- float CE            labels only
- float KD            CED: alpha * soft targets at temperature T + (1 - alpha) * labels
- int8 PTQ            the float CE student, min-max calibration
- int8 QAT            the float CE student fine-tuned quantization-aware on labels
- int8 QAT+KD soft    ... fine-tuned quantization-aware on the teacher's soft targets
- int8 QAT+KD hard    ... on the teacher's top-1 class
- int8 QAT+KD ced     ... on CED (soft targets and labels)
- int8 KD -> QAT+KD   the float KD student fine-tuned with QAT+KD (ced): `edgekd demo`'s recipe

The four QAT rows that start from the float CE student differ only in the fine-tuning loss,
so they isolate what the teacher adds during QAT; the last row is the whole KD pipeline.
Every run goes through ``edgekd.distill`` (QAT runs convert to int8, and int8 accuracy is
the numpy integer reference's: what the generated C computes), on the fixed digits split
(269 test images, 1 image = 0.37 pp).

Settings: ``digits``: the demo's student (width 8, ~6.3 k parameters); ``narrow``: a much
narrower student (width 2, ~500 parameters), where capacity and int8 rounding bite harder.

Prints a markdown table (mean +- std over seeds) and the paired differences that answer
"does KD help?", and writes OUT/kd_quant_synergy.json and OUT/kd_quant_synergy.png.
It is a benchmark, not a test: nothing asserts; tests/test_kd_quant_synergy.py only runs it
with tiny epochs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SETTINGS = {"digits": {"width": 8, "about": "student width 8 (the demo's)"},
            "narrow": {"width": 2, "about": "student width 2"}}
METHODS = [
    ("teacher", "teacher float32 (CE)"),
    ("float_ce", "student float32 CE"),
    ("float_kd", "student float32 KD (ced)"),
    ("ptq", "student int8 PTQ (minmax)"),
    ("qat", "student int8 QAT (CE)"),
    ("qat_kd_soft", "student int8 QAT+KD soft"),
    ("qat_kd_hard", "student int8 QAT+KD hard"),
    ("qat_kd_ced", "student int8 QAT+KD ced"),
    ("kd_qat_kd", "student int8 KD -> QAT+KD ced (demo recipe)"),
]
# paired differences (same seed, same teacher) that say whether the teacher helped
COMPARISONS = [
    ("float_kd", "float_ce", "float: KD - CE"),
    ("qat_kd_soft", "qat", "int8 QAT: +KD soft - CE"),
    ("qat_kd_hard", "qat", "int8 QAT: +KD hard - CE"),
    ("qat_kd_ced", "qat", "int8 QAT: +KD ced - CE"),
    ("kd_qat_kd", "qat", "int8: whole KD pipeline - CE pipeline"),
    ("qat", "ptq", "int8: QAT - PTQ"),
]


def _setup(seed: int):
    import torch

    torch.set_num_threads(1)  # tiny models: one thread each, one process per core
    from edgekd.data import load_dataset

    return load_dataset("digits"), {"patience": 0, "seed": seed, "log": None}


def _model(width: int, seed: int):
    from edgekd.distill.trainer import seed_everything
    from edgekd.zoo import DigitsCNN

    seed_everything(seed)
    return DigitsCNN(width=width)


def train_teacher(seed: int, options: dict) -> tuple[dict, float, float]:
    """The float teacher of one seed (shared by every setting): state dict, test accuracy
    and seconds."""
    from edgekd.distill.pipeline import distill

    started = time.perf_counter()
    dataset, common = _setup(seed)
    teacher = _model(32, seed)
    metrics = distill(None, teacher, dataset, loss="ce", epochs=options["teacher_epochs"],
                      lr=options["lr"], **common)
    print(f"  teacher seed {seed}: test accuracy {metrics['student']['test_accuracy']:.4f}, "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return teacher.state_dict(), metrics["student"]["test_accuracy"], \
        time.perf_counter() - started


def run_one(setting: str, seed: int, options: dict, teacher_state: dict,
            teacher_accuracy: float) -> dict:
    """Every student method for one setting and seed; returns {method: test accuracy}."""
    from edgekd.distill.pipeline import distill
    from edgekd.quant import quantize
    from edgekd.quant.evaluate import int8_accuracy

    started = time.perf_counter()
    dataset, common = _setup(seed)
    kd = {"temperature": options["temperature"], "alpha": options["alpha"]}
    width = SETTINGS[setting]["width"]
    teacher = _model(32, seed)
    teacher.load_state_dict(teacher_state)
    teacher.eval()
    result = {"teacher": teacher_accuracy}

    def student_accuracy(metrics: dict) -> float:
        s = metrics["student"]
        return s["int8_test_accuracy"] if s["int8_test_accuracy"] is not None \
            else s["test_accuracy"]

    plain = _model(width, seed)
    result["float_ce"] = student_accuracy(distill(
        None, plain, dataset, loss="ce", epochs=options["epochs"], lr=options["lr"], **common))
    result["ptq"] = int8_accuracy(quantize(plain.eval(), dataset.train.x, "minmax"),
                                  dataset.test.x, dataset.test.y)
    qat = {"qat": True, "epochs": options["qat_epochs"], "lr": options["qat_lr"], **common}
    result["qat"] = student_accuracy(distill(None, plain, dataset, loss="ce", **qat))
    for loss in ("soft", "hard", "ced"):
        result[f"qat_kd_{loss}"] = student_accuracy(distill(teacher, plain, dataset, loss=loss,
                                                            **kd, **qat))
    distilled = _model(width, seed)
    result["float_kd"] = student_accuracy(distill(
        teacher, distilled, dataset, loss="ced", epochs=options["epochs"], lr=options["lr"],
        **kd, **common))
    result["kd_qat_kd"] = student_accuracy(distill(teacher, distilled, dataset, loss="ced",
                                                   **kd, **qat))
    result["params"] = {"teacher": sum(p.numel() for p in teacher.parameters()),
                        "student": sum(p.numel() for p in plain.parameters())}
    result["seconds"] = time.perf_counter() - started
    print(f"  {setting} seed {seed}: {result['seconds']:.0f} s (float CE "
          f"{result['float_ce']:.4f}, int8 QAT {result['qat']:.4f}, KD -> QAT+KD "
          f"{result['kd_qat_kd']:.4f}; teacher {teacher_accuracy:.4f})", flush=True)
    return result


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarize(results: dict[str, dict[int, dict]]) -> dict:
    """Mean and std (in %) of every method and comparison, per setting."""
    summary: dict = {}
    for setting, by_seed in results.items():
        seeds = sorted(by_seed)
        entry = {"methods": {}, "comparisons": {}}
        for key, _ in METHODS:
            values = [100 * by_seed[s][key] for s in seeds]
            mean, std = _mean_std(values)
            entry["methods"][key] = {"mean": mean, "std": std, "values": values}
        for a, b, _ in COMPARISONS:
            diffs = [100 * (by_seed[s][a] - by_seed[s][b]) for s in seeds]
            mean, std = _mean_std(diffs)
            entry["comparisons"][f"{a}-{b}"] = {"mean": mean, "std": std, "values": diffs}
        entry["params"] = by_seed[seeds[0]]["params"]
        summary[setting] = entry
    return summary


def markdown(summary: dict, seeds: list[int]) -> str:
    settings = list(summary)
    header = ["method"] + [f"{s}: {SETTINGS[s]['about']} ({summary[s]['params']['student']:,} "
                           "params)" for s in settings]
    lines = [f"Test accuracy, % (mean ± std over seeds {', '.join(map(str, seeds))}; digits "
             "test split, 269 images, 1 image = 0.37 pp)", "",
             "| " + " | ".join(header) + " |", "| --- |" + " ---: |" * len(settings)]
    for key, label in METHODS:
        cells = [f"{summary[s]['methods'][key]['mean']:.2f} ± "
                 f"{summary[s]['methods'][key]['std']:.2f}" for s in settings]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Paired differences, pp (same seed and teacher; mean ± std; per seed)", "",
              "| comparison | " + " | ".join(settings) + " |",
              "| --- |" + " ---: |" * len(settings)]
    for a, b, label in COMPARISONS:
        cells = []
        for s in settings:
            c = summary[s]["comparisons"][f"{a}-{b}"]
            cells.append(f"{c['mean']:+.2f} ± {c['std']:.2f} "
                         f"({', '.join(f'{v:+.1f}' for v in c['values'])})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    settings = list(summary)
    figure = Figure(figsize=(9, 2.2 + 2.4 * len(settings)), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(settings), 1, squeeze=False)[:, 0]
    colors = {"teacher": "#333333", "float_ce": "#9ecae1", "float_kd": "#fc9272",
              "ptq": "#6baed6", "qat": "#2171b5", "qat_kd_soft": "#fb6a4a",
              "qat_kd_hard": "#ef3b2c", "qat_kd_ced": "#cb181d", "kd_qat_kd": "#67000d"}
    for ax, setting in zip(axes, settings):
        methods = summary[setting]["methods"]
        keys = [k for k, _ in METHODS]
        means = [methods[k]["mean"] for k in keys]
        stds = [methods[k]["std"] for k in keys]
        ax.bar(range(len(keys)), means, yerr=stds, capsize=3,
               color=[colors[k] for k in keys])
        low = max(0.0, min(min(methods[k]["values"]) for k in keys) - 3)
        for i, k in enumerate(keys):
            ax.scatter([i] * len(methods[k]["values"]), methods[k]["values"], s=8,
                       color="black", zorder=3)
            ax.text(i, low + 0.3, f"{means[i]:.2f}", ha="center", va="bottom", fontsize=8,
                    color="white", fontweight="bold")
        ax.set_ylim(low, 100.5)
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([label.replace("student ", "") for _, label in METHODS],
                           rotation=20, ha="right", fontsize=7)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{setting}: {SETTINGS[setting]['about']} "
                     f"({summary[setting]['params']['student']:,} params); blue: no teacher, "
                     "red: with teacher; dots: seeds", fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    figure.savefig(path, format="png", metadata={"Software": None})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--teacher-epochs", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=150,
                        help="float student epochs (default: 150, as `edgekd demo`)")
    parser.add_argument("--qat-epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--qat-lr", type=float, default=5e-4)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes, one torch thread each (default: one per core)")
    parser.add_argument("--out", default="out/kd_quant_synergy", metavar="DIR")
    args = parser.parse_args(argv)
    options = {k: getattr(args, k) for k in ("teacher_epochs", "epochs", "qat_epochs", "lr",
                                             "qat_lr", "temperature", "alpha")}
    tasks = [(setting, seed) for setting in args.settings for seed in args.seeds]
    print(f"kd_quant_synergy: {len(tasks)} runs (settings {', '.join(args.settings)} x seeds "
          f"{', '.join(map(str, args.seeds))}) on {args.jobs} process(es); {options}",
          flush=True)
    started = time.perf_counter()
    results: dict[str, dict[int, dict]] = {s: {} for s in args.settings}
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        teachers = dict(zip(args.seeds, pool.map(train_teacher, args.seeds,
                                                  [options] * len(args.seeds))))
        futures = {(setting, seed): pool.submit(run_one, setting, seed, options,
                                                *teachers[seed][:2])
                   for setting, seed in tasks}
        for (setting, seed), future in futures.items():
            results[setting][seed] = future.result()
    seconds = time.perf_counter() - started
    summary = summarize(results)
    table = markdown(summary, args.seeds)
    print()
    print(table)
    print(f"\nwall time: {seconds:.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"options": options, "seeds": args.seeds, "seconds": seconds,
              "results": {s: {str(k): v for k, v in r.items()} for s, r in results.items()},
              "summary": summary, "table": table}
    from edgekd.atomic import atomic_file

    with atomic_file(out / "kd_quant_synergy.json") as stream:
        stream.write((json.dumps(record, indent=2) + "\n").encode())
    plot(summary, out / "kd_quant_synergy.png")
    print(f"wrote {out / 'kd_quant_synergy.json'} and {out / 'kd_quant_synergy.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
