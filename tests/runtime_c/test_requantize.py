"""The fast requantization of runtime_c/src/ekd_requantize.h (portable C path, on the host)
against the reference MultiplyByQuantizedMultiplier, over the operands its preconditions
allow: |acc| < 2^30, multiplier >= 0, shift <= -1. The DSP path (SMMLAR) is checked on
an emulated Cortex-M4 by tests/runtime_c/test_kernels_on_board.py."""
from __future__ import annotations

import numpy as np
import pytest
from .ekd_runtime import host_build_flags

from edgekd.reference import requantize
from edgekd.verify.cffi_build import RUNTIME_INCLUDE, RUNTIME_SRC, compile_module

SHIM_CDEF = """
int32_t requantize_fast(int32_t acc, int32_t multiplier, int32_t shift);
int requantize_fast_valid(int32_t multiplier, int32_t shift);
"""
SHIM_SOURCE = """
#include "ekd_requantize.h"
static int32_t requantize_fast(int32_t acc, int32_t multiplier, int32_t shift)
{
    const ekd_per_channel_quant q = { &multiplier, &shift };
    const ekd_requant_channel r = ekd_requant_channel_at(&q, 0);
    return ekd_requantize_fast(acc, r.multiplier, r.right_shift, r.half);
}
static int requantize_fast_valid(int32_t multiplier, int32_t shift)
{
    const ekd_per_channel_quant q = { &multiplier, &shift };
    return ekd_requantize_fast_valid(&q, 1);
}
"""

LIMIT = 1 << 30
ACC_EDGES = [-LIMIT + 1, -LIMIT // 2, -65537, -1025, -3, -2, -1, 0, 1, 2, 3, 1023, 65536,
             LIMIT // 2, LIMIT - 1]
MULT_EDGES = [0, 1, (1 << 30) - 1, 1 << 30, (1 << 30) + 1, (1 << 31) - 2, (1 << 31) - 1]


@pytest.fixture(scope="module")
def shim():
    compile_args, link_args = host_build_flags()
    _, lib = compile_module("ekd_requantize_shim", SHIM_CDEF, [], [RUNTIME_SRC, RUNTIME_INCLUDE],
                            extra_compile_args=compile_args, extra_link_args=link_args,
                            preamble=SHIM_SOURCE)
    return lib


def fast_operands(rng: np.random.Generator, count: int) -> tuple[np.ndarray, ...]:
    """Accumulators of every magnitude below 2^30, multipliers in [0, 2^31), shifts -31..-1,
    with the edges (ties of each rounding step included) first."""
    acc_e, mult_e, shift_e = (a.ravel() for a in np.meshgrid(
        ACC_EDGES, MULT_EDGES, [-1, -2, -5, -30, -31]))
    magnitude = rng.integers(0, 31, size=count)
    acc = rng.integers(0, LIMIT, size=count) >> (30 - magnitude)
    acc = np.where(rng.integers(0, 2, size=count) == 1, -acc, acc)
    mult = rng.integers(0, 1 << 31, size=count)
    mult = np.where(rng.integers(0, 4, size=count) == 0, mult >> rng.integers(0, 31, count), mult)
    shift = rng.integers(-31, 0, size=count)
    # Exact ties of the final rounding: acc * m / 2^31 lands on a half of 2^shift.
    tie = rng.integers(0, 8, size=count) == 0
    mult = np.where(tie, 1 << 30, mult)
    acc = np.where(tie, (rng.integers(-1000, 1000, size=count) * 2 + 1) << (-shift), acc)
    acc = np.clip(acc, -LIMIT + 1, LIMIT - 1)
    return (np.concatenate([acc_e, acc]), np.concatenate([mult_e, mult]),
            np.concatenate([shift_e, shift]))


@pytest.mark.parametrize("seed", range(3))
def test_requantize_fast_matches_reference(shim, seed):
    acc, mult, shift = fast_operands(np.random.default_rng(seed), 6000)
    expected = requantize.multiply_by_quantized_multiplier(acc, mult, shift)
    got = np.array([shim.requantize_fast(int(a), int(m), int(s))
                    for a, m, s in zip(acc, mult, shift)])
    assert np.array_equal(got, expected)


def test_requantize_fast_valid_rejects_what_it_cannot_compute(shim):
    assert shim.requantize_fast_valid(1 << 30, -1)
    assert shim.requantize_fast_valid(0, -31)
    assert not shim.requantize_fast_valid(1 << 30, 0)  # no right shift
    assert shim.requantize_fast_valid(0, 0) and shim.requantize_fast_valid(0, 5)  # zero
    assert shim.requantize_fast(-12345, 0, 0) == 0 == shim.requantize_fast(77, 0, 7)
    assert not shim.requantize_fast_valid(1 << 30, 3)  # left shift
    assert not shim.requantize_fast_valid(-1, -5)  # negative multiplier
    assert not shim.requantize_fast_valid(1 << 30, -32)
