"""ekd_add_fast_s8 (runtime_c/src/ekd_add_fast_s8.c), portable C path on the host, against
the numpy reference add with parameters from edgekd's Prepare; the Arm DSP path runs on
emulated boards in test_kernels_on_board.py."""
from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import assume, given

from edgekd.reference.add import add
from edgekd.reference.params import AddParams

from .ekd_runtime import EKD_ERROR_ARGUMENT
from .ekd_strategies import kernel_settings
from .test_add_s8 import add_cases


def add_fast(runtime, p: AddParams, x1: np.ndarray, x2: np.ndarray,
             alias_first: bool = False) -> tuple[int, np.ndarray]:
    x1 = np.ascontiguousarray(x1, dtype=np.int8).copy()
    x2 = np.ascontiguousarray(x2, dtype=np.int8)
    out = x1 if alias_first else np.full(x1.shape, 0x5A, dtype=np.int8)
    status = runtime.lib.ekd_add_fast_s8(runtime.add_params(p), x1.size,
                                         runtime.ptr("int8_t", x1), runtime.ptr("int8_t", x2),
                                         runtime.ptr("int8_t", out))
    return status, out


def add_fast_accepts(p: AddParams) -> bool:
    """What ekd_add_fast_s8 takes (ekd.h): TFLM's int8 ADD parameters with an output
    shift of at least one bit right (not so for an output scale 2^31 times the inputs',
    whose multiplier underflows to (0, 0))."""
    return (p.left_shift <= 20 and min(p.input1_multiplier, p.input2_multiplier,
                                       p.output_multiplier) >= 0
            and max(p.input1_shift, p.input2_shift) <= 0 and p.output_shift <= -1)


@kernel_settings(300)
@given(case=add_cases())
def test_add_fast_matches_reference_bytes(runtime, case):
    p, x1, x2 = case
    status, out = add_fast(runtime, p, x1, x2)
    if not add_fast_accepts(p):
        assert status == EKD_ERROR_ARGUMENT
        return
    assert status == 0
    assert np.array_equal(out, add(p, x1, x2))


@kernel_settings(50)
@given(case=add_cases())
def test_add_fast_output_may_alias_first_input(runtime, case):
    p, x1, x2 = case
    assume(add_fast_accepts(p))
    status, out = add_fast(runtime, p, x1, x2, alias_first=True)
    assert status == 0
    assert np.array_equal(out, add(p, x1, x2))


def test_add_fast_rejects_what_it_cannot_compute(runtime):
    p = AddParams(input1_offset=3, input1_multiplier=1 << 30, input1_shift=0,
                  input2_offset=-7, input2_multiplier=1 << 30, input2_shift=-2, left_shift=20,
                  output_offset=1, output_multiplier=1 << 30, output_shift=-10,
                  activation_min=-128, activation_max=127)
    x = np.arange(-64, 64, dtype=np.int8)
    assert add_fast(runtime, p, x, x[::-1])[0] == 0
    for change in ({"left_shift": 21}, {"output_shift": 0}, {"input2_shift": 1},
                   {"input1_multiplier": -1}):
        assert add_fast(runtime, dataclasses.replace(p, **change), x, x)[0] == EKD_ERROR_ARGUMENT
