"""The fixed-point helpers of runtime_c/src/ekd_fixedpoint.h against the numpy reference's
(edgekd/reference/requantize.py, softmax.py), value by value over edge cases and thousands
of random int32 inputs. The helpers are static inline, so a small shim exports them."""
from __future__ import annotations

import numpy as np
import pytest
from .ekd_runtime import host_build_flags

from edgekd.reference import requantize, softmax
from edgekd.verify.cffi_build import RUNTIME_INCLUDE, RUNTIME_SRC, compile_module

SHIM_CDEF = """
int32_t srdhm(int32_t a, int32_t b);
int32_t rounding_divide_by_pot(int32_t x, int32_t exponent);
int32_t multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift);
int32_t exp_on_negative_values_q5_26(int32_t a);
int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a);
"""
SHIM_SOURCE = """
#include "ekd_fixedpoint.h"
static int32_t srdhm(int32_t a, int32_t b)
{ return ekd_saturating_rounding_doubling_high_mul(a, b); }
static int32_t rounding_divide_by_pot(int32_t x, int32_t exponent)
{ return ekd_rounding_divide_by_pot(x, exponent); }
static int32_t multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift)
{ return ekd_multiply_by_quantized_multiplier(x, multiplier, shift); }
static int32_t exp_on_negative_values_q5_26(int32_t a)
{ return ekd_exp_on_negative_values_q5_26(a); }
static int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a)
{ return ekd_one_over_one_plus_x_for_x_in_0_1(a); }
"""

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
EDGES = np.array([INT32_MIN, INT32_MIN + 1, -(1 << 30), -65536, -3, -2, -1, 0, 1, 2, 3, 65535,
                  1 << 30, INT32_MAX - 1, INT32_MAX], dtype=np.int64)
SAMPLES = 4000


@pytest.fixture(scope="module")
def shim():
    compile_args, link_args = host_build_flags()
    _, lib = compile_module("ekd_fixedpoint_shim", SHIM_CDEF, [], [RUNTIME_SRC, RUNTIME_INCLUDE],
                            extra_compile_args=compile_args, extra_link_args=link_args,
                            preamble=SHIM_SOURCE)
    return lib


def int32_samples(rng: np.random.Generator, low: int = INT32_MIN,
                  high: int = INT32_MAX) -> np.ndarray:
    """Edge values in [low, high], then random values spread over every magnitude."""
    magnitudes = rng.integers(0, 32, size=SAMPLES)
    values = rng.integers(0, 1 << 31, size=SAMPLES) >> (31 - magnitudes)
    values = np.where(rng.integers(0, 2, size=SAMPLES) == 1, -values, values)
    return np.concatenate([EDGES, values]).clip(low, high)


def c_values(function, *args: np.ndarray) -> np.ndarray:
    """The C helper applied elementwise (cffi calls one value at a time)."""
    return np.array([function(*(int(a) for a in values)) for values in zip(*args)])


@pytest.mark.parametrize("seed", range(3))
def test_saturating_rounding_doubling_high_mul(shim, seed):
    rng = np.random.default_rng(seed)
    edge_a, edge_b = (pair.ravel() for pair in np.meshgrid(EDGES, EDGES))  # every edge pair
    a = np.concatenate([edge_a, int32_samples(rng)])
    b = np.concatenate([edge_b, rng.permutation(int32_samples(rng))])
    expected = requantize.saturating_rounding_doubling_high_mul(a, b)
    assert np.array_equal(c_values(shim.srdhm, a, b), expected)


@pytest.mark.parametrize("seed", range(3))
def test_rounding_divide_by_pot(shim, seed):
    rng = np.random.default_rng(seed)
    x = int32_samples(rng)
    exponent = rng.integers(0, 32, size=x.size)
    expected = requantize.rounding_divide_by_pot(x, exponent)
    assert np.array_equal(c_values(shim.rounding_divide_by_pot, x, exponent), expected)


def test_rounding_divide_by_pot_ties_go_away_from_zero(shim):
    assert [shim.rounding_divide_by_pot(x, 1) for x in (-3, -1, 1, 3)] == [-2, -1, 1, 2]
    assert [shim.rounding_divide_by_pot(x, 2) for x in (-6, -2, 2, 6)] == [-2, -1, 1, 2]


@pytest.mark.parametrize("seed", range(3))
def test_multiply_by_quantized_multiplier(shim, seed):
    rng = np.random.default_rng(seed)
    x = int32_samples(rng)
    multiplier = rng.permutation(int32_samples(rng, low=0))
    # Up to EKD_SHIFT_MAX: shifts from 31 on count modulo 32 (ekd_fixedpoint.h).
    shift = np.where(rng.random(x.size) < 0.8, rng.integers(-31, 31, size=x.size),
                     rng.integers(31, 1025, size=x.size))
    expected = requantize.multiply_by_quantized_multiplier(x, multiplier, shift)
    assert np.array_equal(c_values(shim.multiply_by_quantized_multiplier, x, multiplier, shift),
                          expected)


@pytest.mark.parametrize("seed", range(3))
def test_exp_on_negative_values_q5_26(shim, seed):
    """Every barrel-shifter bit: inputs reach -32 in Q5.26 (exp(-16) still contributes)."""
    a = int32_samples(np.random.default_rng(seed), high=0)
    expected = softmax.exp_on_negative_values(a)
    assert np.array_equal(c_values(shim.exp_on_negative_values_q5_26, a), expected)


@pytest.mark.parametrize("seed", range(3))
def test_one_over_one_plus_x_for_x_in_0_1(shim, seed):
    a = int32_samples(np.random.default_rng(seed), low=0)
    expected = softmax.one_over_one_plus_x_for_x_in_0_1(a)
    assert np.array_equal(c_values(shim.one_over_one_plus_x_for_x_in_0_1, a), expected)
