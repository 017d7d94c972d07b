"""The kernels with an Armv6-M loop of their own on the Cortex-M0 (microbit board),
against the numpy reference.

ekd_mat_mult_s8_v6m.c (behind ekd_conv2d_1x1_s8 and ekd_conv2d_im2col_s8),
the Armv6-M loop of ekd_depthwise_group_s8.c (ekd_depthwise_conv2d_fast_s8) and
ekd_requantize_v6m.h only compile for Armv6-M, so the host tests never run them. One
firmware per hypothesis example holds realistic layers and random cases (fast_cases.py)
and a sweep of the requantization's operands (with extra ones on both sides of where
ekd_requantize_v6m.h switches between its short and long paths: |acc| = 2^15, shift
15/16); the host compares the bytes it prints with the reference. The micro:bit has 16 KiB of RAM: layers whose output or scratch would not
fit are left out, and the requantization sweep is short.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .fast_cases import LAYER_SHAPES, fast_cases, layer_case, mat_mult_block_bytes
from .test_kernels_on_board import PROBE, run_on_board
from .test_requantize import fast_operands

BOARD = "microbit"
M0_KERNELS = ("ekd_conv2d_1x1_s8", "ekd_conv2d_im2col_s8", "ekd_depthwise_conv2d_fast_s8")
CASES_PER_KERNEL = 8
REQUANTIZE_SAMPLES = 300
SHORT_PATH_SAMPLES = 64
MAX_OUTPUT_BYTES = 6000
MAX_SCRATCH_BYTES = 4096

# The requantization the Armv6-M kernels use, in place of ekd_requantize_fast.
M0_PROBE = """\
#include "ekd_requantize_v6m.h"
static int32_t ekd_requantize_fast_probe(int32_t acc, int32_t multiplier, int32_t shift)
{
    const ekd_requant_v6m r = ekd_requant_v6m_make(multiplier, shift);
    return ekd_requantize_v6m(acc, &r);
}
"""


def with_short_path_edges(rng: np.random.Generator, count: int) -> tuple[np.ndarray, ...]:
    """test_requantize.fast_operands, plus accumulators and shifts at the edges of
    ekd_requantize_v6m's short path (|acc| < 2^15, right shift <= 15) and random ones
    inside it, exact ties of the final rounding included."""
    acc, mult, shift = fast_operands(rng, count)
    acc_e, mult_e, shift_e = (a.ravel() for a in np.meshgrid(
        [-(1 << 15) - 1, -(1 << 15), -(1 << 15) + 1, -1, 1, (1 << 15) - 1, 1 << 15,
         (1 << 15) + 1],
        [1, 1 << 30, (1 << 31) - 1, 0x7FFF8001], [-1, -15, -16]))
    small = rng.integers(-(1 << 15) + 1, 1 << 15, size=SHORT_PATH_SAMPLES)
    small_mult = rng.integers(0, 1 << 31, size=SHORT_PATH_SAMPLES)
    small_shift = rng.integers(-15, 0, size=SHORT_PATH_SAMPLES)
    tie = rng.integers(0, 4, size=SHORT_PATH_SAMPLES) == 0
    small_mult = np.where(tie, 1 << 30, small_mult)
    small = np.where(tie, np.clip((rng.integers(-64, 64, size=SHORT_PATH_SAMPLES) * 2 + 1)
                                  << (-small_shift), -(1 << 15) + 1, (1 << 15) - 1), small)
    return (np.concatenate([acc, acc_e, small]), np.concatenate([mult, mult_e, small_mult]),
            np.concatenate([shift, shift_e, small_shift]))


def fits(case) -> bool:
    depth = int(np.prod(case.w.shape[1:]))
    scratch = 0 if "depthwise" in case.kernel else mat_mult_block_bytes(depth)
    return int(np.prod(case.out_shape)) <= MAX_OUTPUT_BYTES and scratch <= MAX_SCRATCH_BYTES


@pytest.mark.slow
@settings(max_examples=2, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_m0_kernels_bit_exact(data, tmp_path_factory, monkeypatch):
    cases = [layer_case(kernel, in_c, out_c, size, stride, seed=i)
             for kernel in M0_KERNELS
             for i, (in_c, out_c, size, stride) in enumerate(
                 LAYER_SHAPES + [(64, 64, (5, 5), 1), (1, 64, (12, 5), 2)])]
    for kernel in M0_KERNELS:
        cases += data.draw(st.lists(fast_cases(kernel, max_channels=16),
                                    min_size=CASES_PER_KERNEL, max_size=CASES_PER_KERNEL))
    cases = [case for case in cases if fits(case)]
    seed = data.draw(st.integers(0, 2**32 - 1))
    from . import test_kernels_on_board as on_board
    monkeypatch.setattr(on_board, "PROBE", M0_PROBE)
    monkeypatch.setattr(on_board, "REQUANTIZE_SAMPLES", REQUANTIZE_SAMPLES)
    monkeypatch.setattr(on_board, "fast_operands", with_short_path_edges)
    assert PROBE != M0_PROBE
    run_on_board(BOARD, cases, [], seed, tmp_path_factory.mktemp(BOARD))
