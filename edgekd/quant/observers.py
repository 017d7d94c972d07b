"""Activation ranges: the per-tensor range state and the calibration methods that set it.

``ActivationRange`` is the one place a tensor's int8 range lives, for PTQ and QAT alike:

- calibration (``observe``): the running min and max over the data seen;
- PTQ ``percentile`` and ``mse``: a second pass fills a histogram over that span and the
  method picks a clipped range from it;
- QAT (``track``): an exponential moving average of each batch's min and max, frozen after
  ``freeze_after`` training steps so the last epochs train against fixed grids.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgekd.errors import EdgeKDError
from edgekd.quant.fake import QMAX, QMIN, activation_qparams

METHODS = ("minmax", "percentile", "mse")
HISTOGRAM_BINS = 2048
PERCENTILE = 99.99  # of the values kept inside the range, per side
MSE_SHRINKS = np.linspace(0.2, 1.0, 81)  # candidate fractions of the observed range
MSE_SAMPLES_PER_BIN = 8  # values are taken as spread evenly inside each histogram bin


class ActivationRange(nn.Module):
    """The [low, high] real range of one activation tensor and its int8 (scale, zero point)."""

    def __init__(self, momentum: float = 0.01, freeze_after: int | None = None) -> None:
        super().__init__()
        self.momentum = momentum
        self.freeze_after = freeze_after
        self.register_buffer("low", torch.tensor(0.0))
        self.register_buffer("high", torch.tensor(0.0))
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("steps", torch.tensor(0, dtype=torch.int64))
        self.histogram: np.ndarray | None = None  # PTQ second pass only; not saved

    def observe(self, x: torch.Tensor) -> None:
        """Widen the range to cover ``x`` (calibration), or, during the histogram pass of
        PTQ, count ``x`` into the histogram over the range found by the first pass."""
        if self.histogram is not None:
            low, high = self.span()
            if high <= low:  # a constant-zero tensor: nothing to clip
                return
            counts = torch.histc(x.detach().float().clamp(low, high), HISTOGRAM_BINS, low, high)
            self.histogram += counts.double().cpu().numpy()
            return
        low, high = _extremes(x)
        if bool(self.initialized):
            low, high = min(low, float(self.low)), max(high, float(self.high))
        self._set(low, high)

    def track(self, x: torch.Tensor) -> None:
        """QAT: move the range toward the batch's (EMA); uninitialized ranges start at the
        batch's; nothing moves outside training or after ``freeze_after`` steps."""
        if not self.training:
            if not bool(self.initialized):
                raise EdgeKDError("an activation range was never calibrated: run a "
                                  "calibration pass or a training step before evaluating")
            return
        if self.freeze_after is not None and int(self.steps) >= self.freeze_after:
            return
        low, high = _extremes(x)
        if bool(self.initialized):
            m = self.momentum
            low = (1 - m) * float(self.low) + m * low
            high = (1 - m) * float(self.high) + m * high
        self._set(low, high)
        self.steps += 1

    def start_histogram(self) -> None:
        self.histogram = np.zeros(HISTOGRAM_BINS, dtype=np.float64)

    def finish_histogram(self, method: str) -> None:
        """Replace the observed span by the range ``method`` picks from the histogram."""
        low, high = self.span()
        if method == "percentile":
            low, high = percentile_range(self.histogram, low, high, PERCENTILE)
        elif method == "mse":
            low, high = mse_range(self.histogram, low, high)
        self._set(low, high)
        self.histogram = None

    def span(self) -> tuple[float, float]:
        """The range in use, widened to include 0 (int8 must represent 0 exactly)."""
        return min(float(self.low), 0.0), max(float(self.high), 0.0)

    def qparams(self, min_scale: float = 0.0) -> tuple[float, int]:
        """(scale, zero point) of the range, stretched about 0 if needed so that the
        scale is at least ``min_scale``."""
        if not bool(self.initialized):
            raise EdgeKDError("an activation range was never calibrated")
        low, high = self.span()
        min_width = min_scale * (QMAX - QMIN)
        if high - low < min_width:
            if high - low > 0:
                stretch = min_width / (high - low)
                low, high = low * stretch, high * stretch
            else:
                high = min_width
        return activation_qparams(low, high)

    def _set(self, low: float, high: float) -> None:
        self.low.fill_(low)
        self.high.fill_(high)
        self.initialized.fill_(True)


def _extremes(x: torch.Tensor) -> tuple[float, float]:
    x = x.detach()
    return float(x.min()), float(x.max())


def _bin_values(low: float, high: float, bins: int, per_bin: int) -> np.ndarray:
    """Points spread evenly inside each bin, shape [bins, per_bin]."""
    width = (high - low) / bins
    offsets = (np.arange(per_bin) + 0.5) / per_bin
    return low + (np.arange(bins)[:, None] + offsets[None, :]) * width


def percentile_range(histogram: np.ndarray, low: float, high: float,
                     percentile: float) -> tuple[float, float]:
    """Clip each tail of the distribution to ``100 - percentile`` percent of the values
    (a side holding only zeros keeps its end at 0)."""
    total = histogram.sum()
    if total == 0:
        return low, high
    edges = np.linspace(low, high, len(histogram) + 1)
    cumulative = np.cumsum(histogram) / total
    tail = 1.0 - percentile / 100.0
    lower = edges[np.searchsorted(cumulative, tail, side="right")]
    upper = edges[min(np.searchsorted(cumulative, 1.0 - tail, side="left") + 1,
                      len(histogram))]
    return min(lower, 0.0), max(upper, 0.0)


def quantization_error(values: np.ndarray, weights: np.ndarray, low: float,
                       high: float) -> float:
    """Weighted squared error of values fake-quantized on the int8 grid of [low, high]."""
    scale, zero_point = activation_qparams(low, high)
    ratio = values / scale
    q = np.clip(np.sign(ratio) * np.floor(np.abs(ratio) + 0.5) + zero_point, QMIN, QMAX)
    return float((weights * (values - (q - zero_point) * scale) ** 2).sum())


def mse_range(histogram: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """The shrink of [low, high] toward 0 whose int8 grid has the smallest mean squared
    error on the histogram (clipping outliers against resolution for the rest)."""
    if histogram.sum() == 0:
        return low, high
    values = _bin_values(low, high, len(histogram), MSE_SAMPLES_PER_BIN).ravel()
    weights = np.repeat(histogram / MSE_SAMPLES_PER_BIN, MSE_SAMPLES_PER_BIN)
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    errors = [quantization_error(values, weights, f * low, f * high) for f in MSE_SHRINKS]
    best = MSE_SHRINKS[int(np.argmin(errors))]
    return best * low, best * high
