"""edgekd/quant/observers.py: calibration ranges, EMA tracking and its freeze, clipping."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekd.errors import EdgeKDError
from edgekd.quant.fake import activation_qparams
from edgekd.quant.observers import (
    ActivationRange,
    mse_range,
    percentile_range,
    quantization_error,
)


def test_observe_widens_over_batches():
    r = ActivationRange()
    r.observe(torch.tensor([0.5, 2.0]))
    r.observe(torch.tensor([-1.0, 1.0]))
    assert (float(r.low), float(r.high)) == (-1.0, 2.0)


def test_span_always_includes_zero():
    r = ActivationRange()
    r.observe(torch.tensor([2.0, 3.0]))
    assert r.span() == (0.0, 3.0)


def test_uncalibrated_range_refuses_eval():
    r = ActivationRange().eval()
    with pytest.raises(EdgeKDError, match="never calibrated"):
        r.track(torch.ones(3))


def test_ema_moves_toward_batches_then_freezes():
    r = ActivationRange(momentum=0.5, freeze_after=2).train()
    r.track(torch.tensor([0.0, 4.0]))  # first batch initializes
    assert float(r.high) == 4.0
    r.track(torch.tensor([0.0, 8.0]))
    assert float(r.high) == 6.0
    r.track(torch.tensor([0.0, 100.0]))  # frozen after two steps
    assert float(r.high) == 6.0 and int(r.steps) == 2


def test_eval_mode_does_not_move_ranges():
    r = ActivationRange(momentum=0.5)
    r.observe(torch.tensor([0.0, 1.0]))
    r.eval().track(torch.tensor([0.0, 9.0]))
    assert float(r.high) == 1.0


def _histogram(values: np.ndarray, bins: int = 2048):
    low, high = min(values.min(), 0.0), max(values.max(), 0.0)
    counts, _ = np.histogram(values, bins, (low, high))
    return counts.astype(np.float64), low, high


def test_percentile_clips_outliers():
    values = np.concatenate([np.random.default_rng(0).uniform(0, 1, 100_000), [50.0, 80.0]])
    low, high = percentile_range(*_histogram(values), 99.9)
    assert low == 0.0 and 0.95 < high < 1.1


def test_mse_clips_a_heavy_tail_to_lower_error_but_keeps_a_uniform_range():
    rng = np.random.default_rng(0)
    heavy = rng.laplace(0, 0.1, 200_000)
    low, high = mse_range(*_histogram(heavy))
    assert low > heavy.min() and high < heavy.max()
    weights = np.ones_like(heavy)
    assert (quantization_error(heavy, weights, low, high)
            < 0.8 * quantization_error(heavy, weights, heavy.min(), heavy.max()))
    uniform = rng.uniform(-1, 1, 200_000)
    low, high = mse_range(*_histogram(uniform))
    assert low < -0.95 and high > 0.95


def test_quantization_error_is_zero_on_grid_points():
    scale, zp = activation_qparams(-1.0, 1.0)
    grid = (np.array([-100, -3, 0, 5, 127]) - zp) * scale
    assert quantization_error(grid, np.ones(5), -1.0, 1.0) < 1e-20
