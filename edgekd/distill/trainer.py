"""The distillation trainer: one student, one frozen teacher, one loss; DDP-aware.

``train_student`` trains whatever module it is given (a float student or a module prepared
for quantization-aware training) against a frozen teacher in eval mode, with AdamW or SGD, a
per-step cosine learning-rate schedule, early stopping on the validation split and
deterministic seeding. After every epoch rank 0 writes one checkpoint atomically (temp file +
rename) holding the model, hint adapters, optimizer, scheduler, epoch, best metric, best
weights, history and every rank's RNG states; ``resume=`` continues from the next epoch, bit
for bit when the world size is unchanged. At the end the student holds its best weights.

Under ``torchrun`` each process trains a DistributedSampler shard of every epoch inside
DistributedDataParallel; rank 0 evaluates, logs and writes, and shares its decisions.
"""
from __future__ import annotations

import functools
import math
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from edgekd.atomic import atomic_file
from edgekd.data import Dataset, Split
from edgekd.distill.augment import random_shift
from edgekd.distill.distributed import DistributedContext, join_process_group
from edgekd.distill.losses import (NEEDS_LABELS, NEEDS_TEACHER, FeatureCapture, HintAdapters,
                                   LossSpec, check_hint_shapes, hint_loss)
from edgekd.distill.teachers import Teacher
from edgekd.errors import EdgeKDError, first_line

CHECKPOINT_FORMAT = "edgekd-checkpoint-1"
OPTIMIZERS = ("adamw", "sgd")


def _print_line(line: str) -> None:
    print(line, flush=True)


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64  # per process: under torchrun the global batch is N times larger
    optimizer: str = "adamw"  # or "sgd" (with Nesterov momentum)
    lr: float = 3e-3  # peak learning rate; the cosine schedule decays it to 0 at the last step
    weight_decay: float = 1e-4
    momentum: float = 0.9  # SGD only
    patience: int = 10  # stop after this many epochs without a better validation score; 0: never
    max_shift: int = 0  # augmentation: random shifts of up to this many pixels (0: off)
    seed: int = 0
    checkpoint: Path | None = None  # rewritten after every epoch by rank 0
    resume: Path | None = None  # a checkpoint to continue from
    device: str | None = None  # "cpu" or "cuda"; default: a GPU when there is one
    log: Callable[[str], None] | None = _print_line  # called on rank 0 only

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise EdgeKDError(f"optimizer {self.optimizer!r}: choose one of "
                              f"{', '.join(OPTIMIZERS)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise EdgeKDError(f"epochs ({self.epochs}) and batch size ({self.batch_size}) "
                              "must be >= 1")
        self.checkpoint = None if self.checkpoint is None else Path(self.checkpoint)
        self.resume = None if self.resume is None else Path(self.resume)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cosine_factor(step: int, total_steps: int) -> float:
    """Learning-rate multiplier at ``step``: 1 at step 0, falling along a half cosine to 0."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


class StudentWithHints(nn.Module):
    """The student plus its hint adapters as one module, so that DistributedDataParallel
    synchronizes the adapters' gradients too. Returns (logits, adapted hint features)."""

    def __init__(self, student: nn.Module, hint_layers: list[str],
                 adapters: HintAdapters | None, capture: FeatureCapture | None) -> None:
        super().__init__()
        self.student = student
        self.adapters = adapters
        self.hint_layers = hint_layers
        self.capture = capture

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        logits = self.student(x)
        if self.adapters is None:
            return logits, []
        return logits, self.adapters([self.capture.features[n] for n in self.hint_layers])


def train_student(student: nn.Module, data: Dataset, loss: LossSpec,
                  teacher: Teacher | None = None, hints: list[tuple[str, str]] | None = None,
                  config: TrainConfig | None = None) -> dict:
    """Train ``student`` in place; returns the metrics (see ``_metrics``).

    ``hints`` are (teacher layer, student layer) qualified module names; they need a torch
    teacher and the "hint" loss.
    """
    config = config or TrainConfig()
    hints = list(hints or [])
    _check_inputs(data, loss, teacher, hints)
    context = join_process_group(config.device)
    run = None
    try:
        run = _Run(student, data, loss, teacher, hints, config, context)
        return run.train()
    finally:
        if run is not None:
            run.remove_hooks()
        context.leave()


def _check_inputs(data: Dataset, loss: LossSpec, teacher: Teacher | None,
                  hints: list[tuple[str, str]]) -> None:
    if loss.kind in NEEDS_TEACHER and teacher is None:
        raise EdgeKDError(f"loss {loss.kind}: needs a teacher")
    if loss.kind in NEEDS_LABELS and data.train.y is None:
        raise EdgeKDError(f"{data.name}: loss {loss.kind} needs labels; the dataset has none "
                          "(use --loss soft or hard)")
    if (loss.kind == "hint") != bool(hints):
        raise EdgeKDError("loss hint needs at least one --hint teacher_layer:student_layer, "
                          "and --hint needs --loss hint")
    if hints and getattr(teacher, "module", None) is None:
        raise EdgeKDError(f"{teacher.name}: feature hints need a torch teacher (its layers are "
                          "hooked); an ONNX teacher exposes only its logits")
    if len(data.train) == 0 or len(data.val) == 0:
        raise EdgeKDError(f"{data.name}: the train and validation splits must not be empty")


def evaluate(model: nn.Module, split: Split, teacher: Teacher | None = None,
             loss: LossSpec | None = None, batch_size: int = 256) -> dict:
    """Accuracy against the labels (None without labels), top-1 agreement with the teacher
    (None without a teacher) and the mean logit loss (None when it cannot be computed)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = agree = 0
    loss_sum = 0.0
    can_score = (loss is not None and (teacher is not None or loss.kind not in NEEDS_TEACHER)
                 and (split.y is not None or loss.kind not in NEEDS_LABELS))
    with torch.no_grad():
        for start in range(0, len(split), batch_size):
            rows = slice(start, start + batch_size)
            x = torch.from_numpy(split.x[rows]).to(device)
            y = None if split.y is None else torch.from_numpy(split.y[rows]).to(device)
            logits = model(x)
            if isinstance(logits, tuple):  # StudentWithHints
                logits = logits[0]
            predicted = logits.argmax(1)
            teacher_logits = None if teacher is None else teacher(x)
            if y is not None:
                correct += int((predicted == y).sum())
            if teacher_logits is not None:
                agree += int((predicted == teacher_logits.argmax(1)).sum())
            if can_score:
                loss_sum += float(loss.logit_loss(logits, teacher_logits, y)) * len(x)
    model.train(was_training)
    n = len(split)
    return {
        "accuracy": None if split.y is None else correct / n,
        "agreement": None if teacher is None else agree / n,
        "loss": loss_sum / n if can_score else None,
    }


class _Run:
    """One call of train_student: the state that lives across epochs."""

    def __init__(self, student: nn.Module, data: Dataset, loss: LossSpec,
                 teacher: Teacher | None, hints: list[tuple[str, str]], config: TrainConfig,
                 context: DistributedContext) -> None:
        self.data, self.loss, self.teacher = data, loss, teacher
        self.config, self.context = config, context
        self.device = context.device
        seed_everything(config.seed)
        student.to(self.device)
        if teacher is not None:
            teacher.to(self.device)
        self.captures: list[FeatureCapture] = []  # forward hooks to take off at the end
        self.model = self._attach_hints(student, hints)
        self.trained = (DistributedDataParallel(self.model) if context.distributed else self.model)
        dataset = TensorDataset(torch.from_numpy(data.train.x),
                                torch.from_numpy(data.train.y if data.train.y is not None
                                                 else np.zeros(len(data.train), np.int64)))
        # the same sampler in one process (one replica) keeps the shuffling identical in kind
        self.sampler = DistributedSampler(dataset, num_replicas=context.world_size,
                                          rank=context.rank, shuffle=True, seed=config.seed)
        self.loader = DataLoader(dataset, batch_size=config.batch_size, sampler=self.sampler)
        self.optimizer = self._make_optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, functools.partial(cosine_factor,
                                              total_steps=config.epochs * len(self.loader)))
        self.augment_rng = torch.Generator().manual_seed(config.seed * 1000 + context.rank)
        self.epoch = 0  # epochs completed
        self.best_score = -math.inf
        self.best_epoch = 0
        self.best_state = self._state_copy()
        self.history: list[dict] = []
        if config.resume is not None:
            self._resume(config.resume)

    # --- set-up ---------------------------------------------------------------------------

    def _attach_hints(self, student: nn.Module, hints: list[tuple[str, str]]) -> StudentWithHints:
        self.teacher_layers = [t for t, _ in hints]
        if not hints:
            self.teacher_capture = None
            return StudentWithHints(student, [], None, None)
        teacher_layers = self.teacher_layers
        student_layers = [s for _, s in hints]
        self.teacher_capture = FeatureCapture(self.teacher.module, teacher_layers,
                                              owner=f"teacher {self.teacher.name}")
        student_capture = FeatureCapture(student, student_layers, owner="student")
        self.captures = [self.teacher_capture, student_capture]
        # one probe batch tells the channel counts; eval mode leaves BatchNorm statistics alone
        probe = torch.from_numpy(self.data.train.x[:2]).to(self.device)
        student.eval()
        with torch.no_grad():
            self.teacher(probe)
            student(probe)
        student.train()
        teacher_features = [self.teacher_capture.features[n] for n in teacher_layers]
        student_features = [student_capture.features[n] for n in student_layers]
        check_hint_shapes(hints, teacher_features, student_features)
        adapters = HintAdapters(hints, [f.shape[1] for f in student_features],
                                [f.shape[1] for f in teacher_features]).to(self.device)
        return StudentWithHints(student, student_layers, adapters, student_capture)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        if self.config.optimizer == "sgd":
            return torch.optim.SGD(parameters, lr=self.config.lr, momentum=self.config.momentum,
                                   nesterov=True, weight_decay=self.config.weight_decay)
        return torch.optim.AdamW(parameters, lr=self.config.lr,
                                 weight_decay=self.config.weight_decay)

    def remove_hooks(self) -> None:
        """Take the feature-hint hooks off the teacher and the student."""
        for capture in self.captures:
            capture.remove()
            capture.features.clear()

    # --- the loop -------------------------------------------------------------------------

    def train(self) -> dict:
        started = time.perf_counter()
        first_epoch = self.epoch + 1
        stopped_early = False
        for epoch in range(first_epoch, self.config.epochs + 1):
            if self.config.patience and epoch - 1 - self.best_epoch >= self.config.patience:
                stopped_early = True
                break
            epoch_started = time.perf_counter()
            with warnings.catch_warnings():
                # A conv with one input channel gets weight gradients whose strides differ
                # from (but are equivalent to) DDP's bucket layout; DDP warns, harmlessly.
                warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
                train_loss = self._train_one_epoch(epoch)
            scores = self.context.broadcast_object(
                self._validate() if self.context.is_main else None)
            self.epoch = epoch
            record = {"epoch": epoch, "train_loss": train_loss, "val_loss": scores["loss"],
                      "val_accuracy": scores["accuracy"], "val_agreement": scores["agreement"],
                      "lr": self.scheduler.get_last_lr()[0],
                      "seconds": time.perf_counter() - epoch_started}
            self.history.append(record)
            improved = scores["score"] > self.best_score
            if improved:
                self.best_score, self.best_epoch = scores["score"], epoch
                self.best_state = self._state_copy()
            self._log_epoch(record, improved)
            if self.config.checkpoint is not None:
                self._write_checkpoint(self.config.checkpoint)
        self._load_state(self.best_state)
        return self._metrics(first_epoch, stopped_early, time.perf_counter() - started)

    def _train_one_epoch(self, epoch: int) -> float:
        self.sampler.set_epoch(epoch)
        self.trained.train()
        loss_sum, count = 0.0, 0
        for x, y in self.loader:
            x = random_shift(x, self.config.max_shift, self.augment_rng).to(self.device)
            y = y.to(self.device) if self.data.train.y is not None else None
            teacher_logits = None if self.teacher is None else self.teacher(x)
            logits, adapted = self.trained(x)
            loss = self.loss.logit_loss(logits, teacher_logits, y)
            if adapted:
                teacher_features = [self.teacher_capture.features[n] for n in self.teacher_layers]
                loss = loss + self.loss.hint_weight * hint_loss(adapted, teacher_features)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            loss_sum += float(loss.detach()) * len(x)
            count += len(x)
        total, n = self.context.sum([loss_sum, count])
        return total / n

    def _validate(self) -> dict:
        """Scores on the validation split; ``score`` is what early stopping maximizes:
        accuracy when there are labels, otherwise agreement with the teacher."""
        scores = evaluate(self.model.student, self.data.val, self.teacher, self.loss)
        labelled = scores["accuracy"] is not None
        scores["score"] = scores["accuracy"] if labelled else scores["agreement"]
        return scores

    def _log_epoch(self, record: dict, improved: bool) -> None:
        if not (self.context.is_main and self.config.log):
            return
        parts = [f"epoch {record['epoch']}/{self.config.epochs}",
                 f"loss {record['train_loss']:.4f}"]
        if record["val_loss"] is not None:
            parts.append(f"val_loss {record['val_loss']:.4f}")
        if record["val_accuracy"] is not None:
            parts.append(f"val_acc {record['val_accuracy']:.4f}")
        if record["val_agreement"] is not None:
            parts.append(f"val_agree {record['val_agreement']:.4f}")
        parts.append(f"lr {record['lr']:.2e}")
        parts.append(f"{record['seconds']:.1f} s" + (" *" if improved else ""))
        self.config.log("  ".join(parts))

    def _metrics(self, first_epoch: int, stopped_early: bool, seconds: float) -> dict:
        """``first_epoch`` (this call's first, > 1 after a resume), ``last_epoch``,
        ``best_epoch``, ``best_val_score`` (accuracy, or teacher agreement without labels),
        ``stopped_early``, ``history`` (one record per epoch since the very first, including
        epochs before a resume), ``train_seconds`` (this call) and ``world_size``."""
        return {"first_epoch": first_epoch, "last_epoch": self.epoch,
                "best_epoch": self.best_epoch,
                "best_val_score": None if self.best_epoch == 0 else self.best_score,
                "stopped_early": stopped_early, "history": list(self.history),
                "train_seconds": seconds, "world_size": self.context.world_size}

    # --- state and checkpoints ------------------------------------------------------------

    def _state_copy(self) -> dict:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _load_state(self, state: dict) -> None:
        self.model.load_state_dict(state)

    def _rng_state(self) -> dict:
        numpy_state = np.random.get_state(legacy=False)
        version, python_state, gauss = random.getstate()
        return {"torch": torch.get_rng_state(), "augment": self.augment_rng.get_state(),
                "numpy": {"key": numpy_state["state"]["key"].tolist(),
                          "pos": numpy_state["state"]["pos"],
                          "has_gauss": numpy_state["has_gauss"], "gauss": numpy_state["gauss"]},
                "python": [version, list(python_state), gauss]}

    def _set_rng_state(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        self.augment_rng.set_state(state["augment"])
        numpy_state = state["numpy"]
        np.random.set_state({"bit_generator": "MT19937",
                             "state": {"key": np.array(numpy_state["key"], np.uint32),
                                       "pos": numpy_state["pos"]},
                             "has_gauss": numpy_state["has_gauss"], "gauss": numpy_state["gauss"]})
        version, python_state, gauss = state["python"]
        random.setstate((version, tuple(python_state), gauss))

    def _write_checkpoint(self, path: Path) -> None:
        rng_states = self.context.gather_objects(self._rng_state())  # every rank takes part
        self.context.barrier()
        if self.context.is_main:
            state = {"format": CHECKPOINT_FORMAT, "epoch": self.epoch, "epochs": self.config.epochs,
                     "model": self.model.student.state_dict(),
                     "hints": ({} if self.model.adapters is None
                               else self.model.adapters.state_dict()),
                     "optimizer": self.optimizer.state_dict(),
                     "scheduler": self.scheduler.state_dict(),
                     "best_score": self.best_score, "best_epoch": self.best_epoch,
                     "best_state": self.best_state, "history": self.history,
                     "world_size": self.context.world_size, "rng": rng_states}
            _save_atomically(state, path)
        self.context.barrier()

    def _resume(self, path: Path) -> None:
        if not path.is_file():
            raise EdgeKDError(f"{path}: no such checkpoint")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise EdgeKDError(f"{path}: not a readable checkpoint ({first_line(e)})") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise EdgeKDError(f"{path}: not an edgekd training checkpoint")
        try:
            self.model.student.load_state_dict(state["model"])
            if self.model.adapters is not None:
                self.model.adapters.load_state_dict(state["hints"])
            elif state["hints"]:
                raise RuntimeError("the checkpoint has hint adapters but no --hint was given")
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise EdgeKDError(f"{path}: does not fit this student, hints or optimizer "
                              f"({first_line(e)})") from None
        # The schedule is a closed form of the step count, and the loaded state keeps this
        # run's total: with more --epochs than the checkpoint's the cosine is re-planned.
        self.scheduler.load_state_dict(state["scheduler"])
        total_steps = self.config.epochs * len(self.loader)
        for group, base_lr in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base_lr * cosine_factor(self.scheduler.last_epoch, total_steps)
        self.epoch = state["epoch"]
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
        self.best_state = state["best_state"]
        self.history = list(state["history"])
        if state["world_size"] == self.context.world_size:
            self._set_rng_state(state["rng"][self.context.rank])
        elif self.context.is_main and self.config.log:
            self.config.log(f"resume: the checkpoint was written by {state['world_size']} "
                            f"process(es), this run has {self.context.world_size}; the data "
                            "order differs from an uninterrupted run")
        if self.context.is_main and self.config.log:
            self.config.log(f"resumed from {path} after epoch {self.epoch}")


def _save_atomically(state: dict, path: Path) -> None:
    """torch.save to a temporary file beside ``path``, then rename it into place, so that a
    crash never leaves a half-written checkpoint."""
    with atomic_file(path) as stream:
        torch.save(state, stream)
