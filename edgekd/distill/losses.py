"""Distillation losses: soft targets, hard targets, CED and feature hints.

Logits are float tensors of shape (batch, classes). Every loss is a mean over the batch.

- soft: Hinton et al. (2015): KL(teacher || student) between the distributions softened by
  the temperature T, multiplied by T^2 so its gradients keep the same scale as T changes.
- hard: cross-entropy of the student against the teacher's top-1 class.
- ced:  alpha * soft + (1 - alpha) * cross-entropy against the ground-truth labels.
- ce:   plain cross-entropy against the labels (no teacher: trains a teacher or a baseline).
- hint: FitNets (Romero et al., 2015): chosen intermediate student features, mapped by a
  learned 1x1 convolution to the teacher's channel count, matched to the teacher's features
  by mean squared error. Added to the ced loss by the trainer.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgekd.errors import EdgeKDError

LOSS_KINDS = ("soft", "hard", "ced", "hint", "ce")
NEEDS_TEACHER = {"soft", "hard", "ced", "hint"}
NEEDS_LABELS = {"ced", "hint", "ce"}


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                     temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), averaged over the batch."""
    teacher_log_probs = F.log_softmax(teacher_logits / temperature, dim=1)
    student_log_probs = F.log_softmax(student_logits / temperature, dim=1)
    kl = F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean", log_target=True)
    return kl * temperature**2


def hard_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the student against the teacher's top-1 class."""
    return F.cross_entropy(student_logits, teacher_logits.argmax(dim=1))


def ced_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
             temperature: float, alpha: float) -> torch.Tensor:
    """alpha * soft_target_loss + (1 - alpha) * cross-entropy against the true labels."""
    soft = soft_target_loss(student_logits, teacher_logits, temperature)
    return alpha * soft + (1.0 - alpha) * F.cross_entropy(student_logits, labels)


@dataclass(frozen=True)
class LossSpec:
    """Which loss to train with and its knobs (temperature T > 0, 0 <= alpha <= 1)."""

    kind: str = "ced"
    temperature: float = 4.0
    alpha: float = 0.9
    hint_weight: float = 1.0  # weight of the feature-hint MSE added to ced for kind "hint"

    def __post_init__(self) -> None:
        if self.kind not in LOSS_KINDS:
            raise EdgeKDError(f"loss {self.kind!r}: unknown; choose one of {', '.join(LOSS_KINDS)}")
        if not self.temperature > 0:
            raise EdgeKDError(f"loss {self.kind}: temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise EdgeKDError(f"loss {self.kind}: alpha must be in [0, 1], got {self.alpha}")
        if self.hint_weight < 0:
            raise EdgeKDError(f"loss {self.kind}: hint weight must be >= 0, got {self.hint_weight}")

    def logit_loss(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                   labels: torch.Tensor | None) -> torch.Tensor:
        """The loss on the logits (the hint term, if any, is added by the caller)."""
        if self.kind == "soft":
            return soft_target_loss(student_logits, teacher_logits, self.temperature)
        if self.kind == "hard":
            return hard_target_loss(student_logits, teacher_logits)
        if self.kind == "ce":
            return F.cross_entropy(student_logits, labels)
        return ced_loss(student_logits, teacher_logits, labels, self.temperature, self.alpha)


class FeatureCapture:
    """Forward hooks that keep the latest output of named submodules.

    ``FeatureCapture(model, ["features.3"])`` then ``capture.features["features.3"]`` after
    each forward pass. ``remove()`` takes the hooks off again.
    """

    def __init__(self, model: nn.Module, names: Iterable[str], owner: str = "model") -> None:
        modules = dict(model.named_modules())
        self.features: dict[str, torch.Tensor] = {}
        self._handles = []
        for name in names:
            if name not in modules or name == "":
                available = ", ".join(n for n in modules if n) or "(none)"
                raise EdgeKDError(f"{owner}: no layer named {name!r}; layers: {available}")
            self._handles.append(modules[name].register_forward_hook(self._keeper(name)))

    def _keeper(self, name: str):
        def keep(module, inputs, output) -> None:
            self.features[name] = output
        return keep

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


class HintAdapters(nn.Module):
    """One learned 1x1 convolution per (teacher layer, student layer) pair that maps the
    student's feature channels onto the teacher's. The adapters train with the student and
    are thrown away afterwards."""

    def __init__(self, pairs: list[tuple[str, str]], student_channels: list[int],
                 teacher_channels: list[int]) -> None:
        super().__init__()
        self.pairs = list(pairs)
        self.convs = nn.ModuleList(
            nn.Conv2d(s, t, kernel_size=1, bias=False)
            for s, t in zip(student_channels, teacher_channels))

    def forward(self, student_features: list[torch.Tensor]) -> list[torch.Tensor]:
        return [conv(feature) for conv, feature in zip(self.convs, student_features)]


def hint_loss(adapted_student: list[torch.Tensor], teacher: list[torch.Tensor]) -> torch.Tensor:
    """Mean over the hint pairs of the MSE between adapted student and teacher features."""
    losses = [F.mse_loss(s, t) for s, t in zip(adapted_student, teacher)]
    return torch.stack(losses).mean()


def parse_hint(text: str) -> tuple[str, str]:
    """'teacher_layer:student_layer' -> (teacher_layer, student_layer)."""
    teacher_layer, sep, student_layer = text.partition(":")
    if not sep or not teacher_layer or not student_layer:
        raise EdgeKDError(f"--hint {text!r}: expected teacher_layer:student_layer "
                          "(qualified module names such as features.5:features.5)")
    return teacher_layer, student_layer


def check_hint_shapes(pairs: list[tuple[str, str]], teacher_features: list[torch.Tensor],
                      student_features: list[torch.Tensor]) -> None:
    """Hints match N x C x H x W maps of the same spatial size (only the channels may differ)."""
    for (t_name, s_name), t, s in zip(pairs, teacher_features, student_features):
        if t.dim() != 4 or s.dim() != 4 or t.shape[2:] != s.shape[2:]:
            raise EdgeKDError(
                f"hint {t_name}:{s_name}: teacher output {tuple(t.shape)} and student output "
                f"{tuple(s.shape)} must both be N x C x H x W with the same H x W")
