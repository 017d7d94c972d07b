"""Model factories for the built-in examples (importable as `edgekd.zoo:digits_student`).

Every model uses only ops the int8 path supports (conv + BN + ReLU, pooling, linear), so
each can be quantized, compiled and verified on a board.
"""
from __future__ import annotations

from torch import nn


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


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
