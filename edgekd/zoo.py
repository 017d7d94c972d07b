"""Model factories for the built-in examples (importable as `edgekd.zoo:digits_student`).

Every model uses only ops the int8 path supports (conv + BN + ReLU, pooling, linear), so
each can be quantized, compiled and verified on a board. ``load_module`` builds a model
from any such factory spec (`pkg.module:factory`) and loads its weights: the teachers of
distillation and the models of quantization are loaded the same way.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgekd.data import call_user_code, load_entry_point
from edgekd.errors import EdgeKDError, first_line


def _conv_block(cin: int, cout: int, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU()]


class DigitsCNN(nn.Module):
    """A small CNN for 1 x 8 x 8 inputs: conv blocks, a 2x2 max pool, global average
    pooling and a linear classifier. ``width`` scales every layer."""

    def __init__(self, width: int = 16, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            *_conv_block(in_channels, w),
            *_conv_block(w, 2 * w),
            nn.MaxPool2d(2),
            *_conv_block(2 * w, 4 * w),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * w, num_classes)

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.classifier(x.flatten(1))


def digits_teacher() -> nn.Module:
    """The digits teacher: width 32, about 94 k parameters."""
    return DigitsCNN(width=32)


def digits_student() -> nn.Module:
    """The digits student: width 8, about 6.3 k parameters (15x fewer than the teacher)."""
    return DigitsCNN(width=8)


class DSCNN(nn.Module):
    """A depthwise-separable CNN for keyword spotting (Zhang et al., "Hello Edge", 2017) on
    the front end's 1 x 49 x 40 log-mel features: a 9x4 stride-2 convolution (padded as
    TFLite's SAME), `blocks` pairs of 3x3 depthwise and 1x1 pointwise convolutions (BN + ReLU
    each), global average pooling and a linear classifier over the 12 classes."""

    def __init__(self, width: int = 64, blocks: int = 4, num_classes: int = 12,
                 in_channels: int = 1) -> None:
        super().__init__()
        layers = [nn.Conv2d(in_channels, width, (9, 4), stride=2, padding=(4, 1), bias=False),
                  nn.BatchNorm2d(width), nn.ReLU()]
        for _ in range(blocks):
            layers += _conv_block(width, width, groups=width)
            layers += [nn.Conv2d(width, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.classifier(x.flatten(1))


def kws_teacher() -> nn.Module:
    """The keyword spotting teacher: DS-CNN width 160, 5 blocks, about 146 k parameters."""
    return DSCNN(width=160, blocks=5)


def kws_student() -> nn.Module:
    """The keyword spotting student: width 64, 4 blocks, about 23 k parameters (28.8 KB of
    int8 weights; its 25x20x64 activations need a 37.6 KB arena, more than a 16 KB RAM part
    has: a model for that budget must downsample further)."""
    return DSCNN(width=64, blocks=4)


def kws_student_m0() -> nn.Module:
    """A keyword spotting student for a Cortex-M0 class part: width 24, 4 blocks, about 5 k
    parameters."""
    return DSCNN(width=24, blocks=4)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def load_module(spec: str, weights: str | Path | None = None, role: str = "model") -> nn.Module:
    """Call the factory `pkg.module:factory` and load a state dict from `weights` (read with
    ``torch.load(weights_only=True)``: no pickled code runs)."""
    factory = load_entry_point(spec)
    if not callable(factory):
        raise EdgeKDError(f"{role} {spec}: not callable; expected a factory returning an nn.Module")
    module = call_user_code(spec, factory)
    if not isinstance(module, nn.Module):
        raise EdgeKDError(f"{role} {spec}: returned {type(module).__name__}, not a torch.nn.Module")
    if weights is not None:
        load_weights(module, weights, role)
    return module


def check_inputs_fit(module: nn.Module, x: np.ndarray, data: str, role: str = "model") -> None:
    """A one-line error unless ``module`` takes the data's samples (tried on one sample)."""
    training = module.training
    try:
        with torch.no_grad():
            module.eval()(torch.from_numpy(np.ascontiguousarray(x[:1])))
    except (RuntimeError, ValueError, TypeError, IndexError) as e:
        raise EdgeKDError(f"{data}: inputs of shape {list(x.shape[1:])} do not fit the "
                          f"{role} ({first_line(e)})") from None
    finally:
        module.train(training)


def load_weights(module: nn.Module, weights: str | Path, role: str = "model") -> None:
    """Load a state dict file into ``module`` (strict: every key must match)."""
    path = Path(weights)
    if not path.is_file():
        raise EdgeKDError(f"{path}: no such file ({role} weights)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refusals and corrupt zips are one user error
        raise EdgeKDError(f"{path}: not a torch state dict loadable with weights_only=True "
                          f"({first_line(e)})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # an edgekd training checkpoint
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as e:
        first = str(e).strip().splitlines()
        raise EdgeKDError(f"{path}: does not fit the {role} "
                          f"({' '.join(line.strip() for line in first[:2])})") from None
