"""``edgekd demo``: the whole pipeline on the built-in digits, in one command.

1. a float teacher (zoo.DigitsCNN, width 32, ~94 k parameters), trained on labels, or
   reused from the cache (keyed by the training code, the settings and the seed);
2. the student (width 8, ~6.3 k parameters, 15x fewer) trained WITHOUT a teacher: float
   cross-entropy, then int8 by post-training calibration (PTQ) and by quantization-aware
   training (QAT), the baseline;
3. the same student trained WITH the teacher: float distillation (CED: soft targets at
   temperature T plus labels), then quantization-aware fine-tuning with the teacher
   (QAT+KD) into int8: the deployed model;
4. the deployed model as .tflite, its generated C, verified bit-exact on the host (the 269
   test images, every tensor against the numpy reference and TFLite Micro) and, with the
   baseline, on an emulated board under QEMU (instructions, flash, RAM);
5. the run directory (docs/rundir.md) with report.md and plots, and one table.

Every training run goes through ``edgekd.distill_student`` (what ``edgekd distill`` runs);
its output folder is kept under ``runs/``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgekd.atomic import swap_in_dir
from edgekd.errors import EdgeKDError

DEFAULT_OUT = Path("out") / "demo"
C_NAME = "digits_student"
DEPLOYED = "kd-int8"
TARGET_PP = 1.0  # the goal: the deployed int8 student within this many points of the teacher
CACHE_FORMAT = "demo-teacher-1"
# The code a cached teacher depends on (relative to the package): change one, retrain.
_TEACHER_CODE = ("zoo.py", "data/__init__.py", "distill/trainer.py", "distill/losses.py",
                 "distill/augment.py", "distill/pipeline.py", "distill/distributed.py")
_PACKAGE = Path(__file__).resolve().parent

Log = Callable[[str], None]


@dataclass(frozen=True)
class DemoConfig:
    """The demo's recipe. Chosen on digits (269 test images, 1 image = 0.37 pp) with
    benchmarks/kd_quant_synergy.py and the measurements in the issue: long float
    distillation, then a short QAT+KD fine-tuning whose activation ranges freeze halfway."""

    seed: int = 0
    teacher_width: int = 32
    student_width: int = 8
    teacher_epochs: int = 40
    student_epochs: int = 150  # float training of both students (CE and KD): same schedule
    qat_epochs: int = 10  # QAT and QAT+KD fine-tuning
    lr: float = 3e-3
    qat_lr: float = 5e-4
    temperature: float = 4.0
    alpha: float = 0.9
    board: str = "mps2-an386"
    board_inputs: int = 20  # test images run on the board (the host runs all of them)
    quick: bool = False  # a smoke run: a few epochs, accuracy goal not expected


def quick_config(**changes) -> DemoConfig:
    """A few epochs per stage: exercises every step in well under a minute of training."""
    return dataclasses.replace(DemoConfig(teacher_epochs=3, student_epochs=3, qat_epochs=2,
                                          quick=True), **changes)


@contextlib.contextmanager
def _one_torch_thread():
    """These models are tiny: one thread is faster than two, and OpenMP threads that spin
    while other work shares the cores make two threads several times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def cache_root() -> Path | None:
    """Where the demo keeps its teacher: ``$EDGEKD_CACHE/demo`` (default
    ``~/.cache/edgekd/demo``, following XDG_CACHE_HOME); EDGEKD_CACHE=off disables it."""
    root = os.environ.get("EDGEKD_CACHE")
    if root == "off":
        return None
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"),
                            "edgekd")
    return Path(root) / "demo"


def teacher_cache_key(config: DemoConfig) -> str:
    """A hash of what the teacher's weights depend on: the training code, the settings,
    the seed and the torch version."""
    import torch

    digest = hashlib.sha256(CACHE_FORMAT.encode())
    for relative in _TEACHER_CODE:
        digest.update(relative.encode())
        digest.update((_PACKAGE / relative).read_bytes())
    settings = {"width": config.teacher_width, "epochs": config.teacher_epochs,
                "lr": config.lr, "seed": config.seed, "torch": torch.__version__}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:20]


class _Progress:
    """Stage lines, and the trainer's epoch lines thinned to every tenth on long runs."""

    EPOCH = re.compile(r"epoch (\d+)/(\d+)")

    def __init__(self, log: Log, stages: int) -> None:
        self.log, self.stages, self.stage = log, stages, 0
        self.prefix = ""

    def begin(self, title: str) -> None:
        self.stage += 1
        self.log(f"[{self.stage}/{self.stages}] {title}")

    def trainer(self, prefix: str) -> Log:
        def log(line: str) -> None:
            match = self.EPOCH.match(line)
            if match:
                epoch, total = int(match[1]), int(match[2])
                if total > 20 and epoch % 10 and epoch not in (1, total):
                    return
            self.log(f"    {prefix}: {line}")
        return log


def run_demo(out_dir: str | os.PathLike = DEFAULT_OUT, *, fresh: bool = False,
             config: DemoConfig | None = None, log: Log = print,
             cache_dir: str | os.PathLike | None = None) -> dict:
    """Run the demo into ``out_dir`` (built in a temporary folder beside it, then moved into
    place, replacing an earlier demo run). Returns run.json's content plus ``ok`` (every
    verification bit-exact) and ``out_dir``. ``fresh``: retrain the teacher even when
    cached. ``cache_dir``: the teacher cache (default ``cache_root()``)."""
    from edgekd.verify.boards import load_board

    config = config or DemoConfig()
    out = Path(out_dir)
    _check_out_dir(out)
    load_board(config.board).require_tools()  # before minutes of training, not after
    cache = Path(cache_dir) if cache_dir is not None else cache_root()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's 0700 would become the run directory's mode
    try:
        def log_final_paths(line: str) -> None:  # name files where they will end up
            log(line.replace(str(staging), str(out)))

        with _one_torch_thread():
            run = _run(staging, out, config, fresh, cache, log_final_paths)
        swap_in_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    run["out_dir"] = str(out)
    log("")
    log(format_demo_table(run, out))
    return run


def _check_out_dir(out: Path) -> None:
    """Replace only an earlier demo run: never a file or a folder with other things in it."""
    if not out.exists():
        return
    if not out.is_dir():
        raise EdgeKDError(f"{out}: exists and is not a directory")
    if any(out.iterdir()) and not (out / "run.json").is_file():
        raise EdgeKDError(f"{out}: not empty and not an edgekd demo run (no run.json); "
                          "choose another --out")


def _run(run_dir: Path, out: Path, config: DemoConfig, fresh: bool, cache: Path | None,
         log: Log) -> dict:
    import torch

    from edgekd.data import load_dataset
    from edgekd.distill.pipeline import distill
    from edgekd.distill.teachers import TorchTeacher
    from edgekd.distill.trainer import seed_everything
    from edgekd.zoo import DigitsCNN

    started = time.perf_counter()
    stages: dict[str, float] = {}
    progress = _Progress(log, 7)
    dataset = load_dataset("digits")
    log(f"edgekd demo: digits, {len(dataset.train)} train / {len(dataset.val)} val / "
        f"{len(dataset.test)} test images; seed {config.seed}"
        + ("; --quick: a few epochs per stage" if config.quick else ""))
    runs = run_dir / "runs"
    common = {"patience": 0, "seed": config.seed, "checkpoint": None}

    def student():
        seed_everything(config.seed)  # both students start from the same weights
        return DigitsCNN(width=config.student_width)

    # 1. the teacher
    clock = time.perf_counter()
    progress.begin(f"teacher: DigitsCNN(width={config.teacher_width}), float32, "
                   f"cross-entropy, {config.teacher_epochs} epochs")
    teacher, cache_state = _teacher(config, dataset, runs / "teacher", fresh, cache, common,
                                    progress)
    teacher_metrics = json.loads((runs / "teacher" / "metrics.json").read_text())
    stages["teacher"] = time.perf_counter() - clock
    models = [_record("teacher", "teacher", "teacher", "CE", "float32", False,
                      teacher_metrics["student"]["params"],
                      teacher_metrics["student"]["test_accuracy"], None)]
    frozen = TorchTeacher(teacher, name=f"DigitsCNN(width={config.teacher_width})")

    # 2. the student without a teacher
    clock = time.perf_counter()
    progress.begin(f"student without a teacher: DigitsCNN(width={config.student_width}), "
                   f"cross-entropy {config.student_epochs} epochs, then int8 by PTQ and "
                   f"by QAT ({config.qat_epochs} epochs)")
    plain = student()
    metrics = distill(None, plain, dataset, runs / "ce-float", loss="ce",
                      epochs=config.student_epochs, lr=config.lr,
                      log=progress.trainer("float CE"), **common)
    models.append(_record("ce-float", "student, no teacher", "student", "CE", "float32", False,
                          metrics["student"]["params"], metrics["student"]["test_accuracy"],
                          None))
    models.append(_ptq(plain, dataset, runs / "ce-ptq", run_dir, progress))
    metrics = distill(None, plain, dataset, runs / "ce-int8", loss="ce", qat=True,
                      epochs=config.qat_epochs, lr=config.qat_lr,
                      log=progress.trainer("int8 QAT"), **common)
    models.append(_int8_record("ce-int8", "student, no teacher", "QAT", False, metrics,
                               runs / "ce-int8", run_dir))
    stages["student without teacher"] = time.perf_counter() - clock

    # 3. the student with the teacher
    clock = time.perf_counter()
    progress.begin(f"student with the teacher: CED (T={config.temperature:g}, "
                   f"alpha={config.alpha:g}) {config.student_epochs} epochs, then int8 "
                   f"QAT+KD ({config.qat_epochs} epochs)")
    kd = student()
    kd_options = {"loss": "ced", "temperature": config.temperature, "alpha": config.alpha}
    metrics = distill(frozen, kd, dataset, runs / "kd-float", epochs=config.student_epochs,
                      lr=config.lr, log=progress.trainer("float KD"), **kd_options, **common)
    models.append(_record("kd-float", "student, KD", "student", "KD (ced)", "float32", True,
                          metrics["student"]["params"], metrics["student"]["test_accuracy"],
                          None))
    metrics = distill(frozen, kd, dataset, runs / DEPLOYED, qat=True, epochs=config.qat_epochs,
                      lr=config.qat_lr, log=progress.trainer("int8 QAT+KD"), **kd_options,
                      **common)
    models.append(_int8_record(DEPLOYED, "student, QAT+KD", "QAT+KD (ced)", True, metrics,
                               runs / DEPLOYED, run_dir))
    for name in ("metrics.json", "student.pt", "model.tflite"):
        shutil.copy2(runs / DEPLOYED / name, run_dir / name)
    stages["student with teacher"] = time.perf_counter() - clock

    # 4. C
    clock = time.perf_counter()
    progress.begin(f"C code: {C_NAME}.h/.c/_weights.c/.cmake from model.tflite")
    from edgekd.codegen import compile_model

    generated = compile_model(run_dir / "model.tflite", run_dir / "c", name=C_NAME)
    log(f"    {C_NAME}: {generated.plan.summary()}")
    for filename in generated.files:
        log(f"    wrote {out / 'c' / filename}")
    stages["generate C"] = time.perf_counter() - clock

    # 5. host verification
    clock = time.perf_counter()
    progress.begin(f"verify on the host: the {len(dataset.test)} test images, every tensor "
                   "against the numpy reference and TFLite Micro")
    from edgekd.verify.host import verify_host

    host = verify_host(run_dir / "model.tflite",
                       inputs=_int8_inputs(run_dir / "model.tflite", dataset.test.x),
                       name=C_NAME)
    log("    " + host.summary())
    stages["verify host"] = time.perf_counter() - clock

    # 6. board verification
    clock = time.perf_counter()
    progress.begin(f"verify on {config.board} under QEMU: {config.board_inputs} test images, "
                   "both int8 students")
    from edgekd.verify.target import verify_target

    board_results = {}
    for key in ("ce-int8", DEPLOYED):
        model = next(m for m in models if m["key"] == key)
        path = run_dir / model["tflite"]
        images = dataset.test.x[:config.board_inputs]
        result = verify_target(path, config.board, inputs=_int8_inputs(path, images),
                               name=C_NAME, progress=lambda line: log(f"    {line}"))
        board_results[key] = result
        model["board"] = _board_record(result)
    stages["verify board"] = time.perf_counter() - clock

    # 7. the report
    clock = time.perf_counter()
    progress.begin("report: report.md and plots")
    verify = {"model": "model.tflite", "host": _relative(host.to_json(), run_dir),
              "boards": [_relative(board_results[DEPLOYED].to_json(), run_dir)]}
    (run_dir / "verify.json").write_text(json.dumps(verify, indent=2) + "\n")
    run = {"format": "edgekd-run-1",
           "dataset": {"name": dataset.name, "train": len(dataset.train),
                       "val": len(dataset.val), "test": len(dataset.test)},
           "models": models, "deployed": DEPLOYED, "target_pp": TARGET_PP,
           "config": dataclasses.asdict(config), "stages": stages,
           "seconds": None, "teacher_cache": cache_state,
           "torch_version": torch.__version__}
    _write_run(run_dir, run, started)
    from edgekd.report import write_report

    write_report(run_dir)
    stages["report"] = time.perf_counter() - clock
    _write_run(run_dir, run, started)  # with the report's time and the total
    run["ok"] = host.bit_exact and all(r.bit_exact for r in board_results.values())
    run["host"] = host
    run["boards"] = board_results
    return run


def _write_run(run_dir: Path, run: dict, started: float) -> None:
    run["seconds"] = time.perf_counter() - started
    (run_dir / "run.json").write_text(json.dumps(run, indent=2) + "\n")


def _teacher(config: DemoConfig, dataset, out: Path, fresh: bool, cache: Path | None,
             common: dict, progress: _Progress):
    """The trained teacher module and whether the cache had it ("hit", "miss", "off");
    its `edgekd distill` output folder is copied to ``out``."""
    from edgekd.distill.pipeline import distill
    from edgekd.zoo import load_weights
    from edgekd.distill.trainer import seed_everything
    from edgekd.zoo import DigitsCNN

    key = teacher_cache_key(config)
    cached = None if cache is None else cache / f"teacher-{key}"
    teacher = DigitsCNN(width=config.teacher_width)
    if cached is not None and not fresh and (cached / "student.pt").is_file() \
            and (cached / "metrics.json").is_file():
        load_weights(teacher, cached / "student.pt", "teacher")
        shutil.copytree(cached, out)
        progress.log(f"    reused the cached teacher {cached}")
        return teacher.eval(), "hit"
    seed_everything(config.seed)
    teacher = DigitsCNN(width=config.teacher_width)
    distill(None, teacher, dataset, out, loss="ce", epochs=config.teacher_epochs, lr=config.lr,
            log=progress.trainer("teacher"), **common)
    if cached is None:
        return teacher.eval(), "off"
    try:  # a copy renamed into place: a concurrent demo never sees half a teacher
        cached.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".teacher-", dir=cached.parent))
        for name in ("student.pt", "metrics.json"):
            shutil.copy2(out / name, staging / name)
        if cached.exists():
            shutil.rmtree(cached)
        os.replace(staging, cached)
        progress.log(f"    cached the teacher in {cached}")
    except OSError as error:  # an unwritable cache only costs time next run
        progress.log(f"    could not cache the teacher in {cached} ({error})")
    return teacher.eval(), "miss"


def _record(key: str, label: str, role: str, method: str, precision: str, with_teacher: bool,
            params: int, accuracy: float | None, tflite: str | None,
            weight_bytes: int | None = None) -> dict:
    """A run.json model record (docs/rundir.md)."""
    if weight_bytes is None and precision == "float32":
        weight_bytes = 4 * params
    return {"key": key, "label": label, "role": role, "method": method, "precision": precision,
            "teacher": with_teacher, "params": params, "weight_bytes": weight_bytes,
            "test_accuracy": accuracy, "tflite": tflite, "board": None}


def _int8_weight_bytes(path: Path) -> int:
    from edgekd.frontends import load_model
    from edgekd.summary import summarize

    return summarize(load_model(path))["totals"]["weight_bytes"]


def _int8_record(key: str, label: str, method: str, with_teacher: bool, metrics: dict,
                 folder: Path, run_dir: Path) -> dict:
    tflite = folder / "model.tflite"
    return _record(key, label, "student", method, "int8", with_teacher,
                   metrics["student"]["params"], metrics["student"]["int8_test_accuracy"],
                   str(tflite.relative_to(run_dir)), _int8_weight_bytes(tflite))


def _ptq(model, dataset, folder: Path, run_dir: Path, progress: _Progress) -> dict:
    """Post-training quantization (min-max calibration on the training images)."""
    from edgekd.frontends.tflite import save_tflite
    from edgekd.quant import quantize
    from edgekd.quant.evaluate import int8_accuracy

    graph = quantize(model.eval(), dataset.train.x, "minmax")
    accuracy = int8_accuracy(graph, dataset.test.x, dataset.test.y)
    folder.mkdir(parents=True, exist_ok=True)
    save_tflite(graph, folder / "model.tflite")
    progress.log(f"    int8 PTQ (minmax): test accuracy {accuracy:.4f}")
    params = sum(p.numel() for p in model.parameters())
    return _record("ce-ptq", "student, no teacher", "student", "PTQ (minmax)", "int8", False,
                   params, accuracy, str((folder / "model.tflite").relative_to(run_dir)),
                   _int8_weight_bytes(folder / "model.tflite"))


def _int8_inputs(tflite: Path, x):
    """Float NCHW images as the int8 model's input tensor takes them: [N, 1, H, W, C]."""
    from edgekd.frontends import load_model
    from edgekd.quant.evaluate import quantize_inputs

    graph = load_model(tflite)
    codes = quantize_inputs(graph, x)
    return codes.reshape(len(codes), *graph.tensor(graph.inputs[0]).shape)


def _board_record(result) -> dict:
    return {"target": result.target, "bit_exact": result.bit_exact, "inputs": result.inputs,
            "flash_bytes": result.flash_bytes, "ram_bytes": result.ram_bytes,
            "arena_bytes": result.arena_bytes, "stack_bytes": result.stack_bytes,
            "instructions": result.instructions["mean"],
            "instructions_per_mac": result.instructions_per_mac}


def _relative(record: dict, run_dir: Path) -> dict:
    """A verify record with the model path relative to the run directory."""
    model = Path(record["model"])
    with contextlib.suppress(ValueError):
        record["model"] = str(model.relative_to(run_dir))
    return record


def format_demo_table(run: dict, out: Path) -> str:
    """The demo's closing table: accuracy, size and board cost of every model."""
    models = run["models"]
    teacher = next(m for m in models if m["role"] == "teacher")
    top = teacher["test_accuracy"]
    header = ("model", "method", "precision", "params", "test acc", "vs teacher",
              "flash (B)", "RAM (B)", "instr./inference")
    rows = [header]
    for m in models:
        board = m.get("board") or {}
        label = m["label"] + (" *" if m["key"] == run["deployed"] else "")
        rows.append((label, m["method"], m["precision"], f"{m['params']:,}",
                     f"{100 * m['test_accuracy']:.2f}%",
                     "" if m is teacher else f"{100 * (m['test_accuracy'] - top):+.2f} pp",
                     f"{board['flash_bytes']:,}" if board else "-",
                     f"{board['ram_bytes']:,}" if board else "-",
                     f"{board['instructions']:,.0f}" if board else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if i >= 3 else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    deployed = next(m for m in models if m["key"] == run["deployed"])
    gap = 100 * (top - deployed["test_accuracy"])
    dataset = run["dataset"]
    config = run["config"]
    host, boards = run["host"], run["boards"]
    board_verdicts = ", ".join(f"{key} {'yes' if r.bit_exact else 'NO'}"
                               for key, r in boards.items())
    deployed_board = boards[run["deployed"]]
    met = "met" if gap <= run["target_pp"] + 1e-9 else "NOT met"
    lines += [
        f"* deployed. {dataset['test']} test images (1 image = {100 / dataset['test']:.2f} pp); "
        f"teacher {teacher['params'] / deployed['params']:.0f}x the student's parameters.",
        f"goal: int8 QAT+KD student within {run['target_pp']:g} pp of the float teacher: "
        f"{met} ({gap:.2f} pp below)"
        + (" (--quick run: not expected)" if config.get("quick") and met != "met" else ""),
        f"bit-exact on the host ({host.inputs} test images; {'; '.join(host.compared)}): "
        f"{'yes' if host.bit_exact else f'NO, {host.mismatches} mismatching'}",
        f"bit-exact on {config['board']} under QEMU ({deployed_board.inputs} test images, "
        f"outputs vs reference and TFLM): {board_verdicts}",
        f"on {config['board']}: flash = code + constants, RAM = data + bss (arena "
        f"{deployed_board.arena_bytes:,} B) + measured stack ({deployed_board.stack_bytes:,} B);"
        f" {deployed_board.instructions_per_mac:.2f} instructions/MAC",
        f"C sources: {out / 'c'}/ ({C_NAME}.h, {C_NAME}.c, {C_NAME}_weights.c, {C_NAME}.cmake)",
        f"report:    {out / 'report.md'} (plots in {out / 'plots'}/)",
        f"time: {run['seconds']:.0f} s (" + ", ".join(f"{k} {v:.0f} s"
                                                      for k, v in run["stages"].items())
        + f"; teacher cache: {run['teacher_cache']})",
    ]
    return "\n".join(lines)
