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


# -- every loop of ekd_add_run (runtime_c/src/ekd_add_run.c) ----------------------------

def run_loop(p: AddParams) -> str:
    """The loop ekd_add_run takes for ``p`` (ekd_add_fast.h: ekd_add_half_input): "half1"
    / "half2" the half form with that input as h ("-lo" with activation_min above -128:
    its second copy), "first-half" the general form with an input at shift 0, "general"."""
    half = 0
    if p.left_shift == 20 and p.output_shift >= -22 and p.activation_max == 127:
        if p.input1_multiplier == 1 << 30 and p.input1_shift == 0 and p.input2_shift <= -1:
            half = 1
        elif p.input2_multiplier == 1 << 30 and p.input2_shift == 0 and p.input1_shift <= -1:
            half = 2
    if half:
        return f"half{half}" + ("-lo" if p.activation_min > -128 else "")
    if p.input1_shift == 0 or p.input2_shift == 0:
        return "first-half"
    return "general"


def loop_cases() -> list[tuple[str, AddParams, np.ndarray, np.ndarray]]:
    """(loop, params, x1, x2) for every loop of ekd_add_run: TFLM's preparation (the half
    input first and second, ReLU above -128, RELU6 below 127, equal scales, an output
    shift past 22) and one made up for the general form (no input at shift 0), with
    every int8 pair of inputs (65,536 values: every rounding and clamp)."""
    from .fast_cases import direct_add_params

    x1 = np.repeat(np.arange(-128, 128, dtype=np.int8), 256)
    x2 = np.tile(np.arange(-128, 128, dtype=np.int8), 256)
    cases = []
    for scales, zero_points, activation in [
            ((0.05, 0.04, 0.07), (3, -7, -128), "RELU"),   # half1, lo -128
            ((0.05, 0.04, 0.07), (3, -7, 9), "RELU"),      # half1, lo 9
            ((0.04, 0.05, 0.07), (-20, 5, -128), "NONE"),  # half2, lo -128
            ((0.04, 0.05, 0.07), (-20, 5, -30), "RELU"),   # half2, lo -30
            ((0.05, 0.04, 0.1), (3, -7, -100), "RELU6"),   # activation_max below 127
            ((0.04, 0.05, 0.1), (3, -7, -100), "RELU6"),   # the same, input 2 at shift 0
            ((0.05, 0.05, 0.07), (1, 2, 3), "NONE"),       # equal scales: both at shift 0
            ((0.001, 0.0008, 1.0), (0, 4, -5), "NONE"),    # output shift past 22
    ]:
        p = direct_add_params(zero_points[0], scales, zero_points[1], zero_points[2],
                              activation)
        assert p is not None and add_fast_accepts(p)
        cases.append((run_loop(p), p, x1, x2))
    p = AddParams(input1_offset=-5, input1_multiplier=(1 << 30) + 12345, input1_shift=-1,
                  input2_offset=100, input2_multiplier=1518500250, input2_shift=-2,
                  left_shift=20, output_offset=-3, output_multiplier=1686629713,
                  output_shift=-19, activation_min=-100, activation_max=120)
    cases.append((run_loop(p), p, x1, x2))
    return cases


def test_loop_cases_cover_every_loop():
    loops = [loop for loop, *_ in loop_cases()]
    assert set(loops) == {"half1", "half1-lo", "half2", "half2-lo", "first-half", "general"}
    # The output shift past 22 and the clamp below 127 leave the half form.
    assert loops[4] == loops[5] == loops[7] == "first-half"


def test_add_fast_every_loop_every_input_pair(runtime):
    """Each loop over all 65,536 input pairs, into a separate output and over either input
    (the fused residual writes over input 2, the generated ADD over either), and short
    runs (0 to 3 values)."""
    for loop, p, x1, x2 in loop_cases():
        expected = add(p, x1, x2)
        status, out = add_fast(runtime, p, x1, x2)
        assert status == 0 and np.array_equal(out, expected), loop
        status, out = add_fast(runtime, p, x1, x2, alias_first=True)
        assert status == 0 and np.array_equal(out, expected), f"{loop} over input 1"
        buffer = x2.copy()
        status = runtime.lib.ekd_add_fast_s8(runtime.add_params(p), buffer.size,
                                             runtime.ptr("int8_t", x1),
                                             runtime.ptr("int8_t", buffer),
                                             runtime.ptr("int8_t", buffer))
        assert status == 0 and np.array_equal(buffer, expected), f"{loop} over input 2"
        for n in range(4):
            start = 1000 * n + 77
            status, out = add_fast(runtime, p, x1[start:start + n], x2[start:start + n])
            assert status == 0 and np.array_equal(out, expected[start:start + n]), loop


def test_add_fast_half_form_can_fail(runtime):
    """The comparison above can fail: the output offset one off changes the bytes."""
    _, p, x1, x2 = loop_cases()[0]
    status, out = add_fast(runtime, p, x1, x2)
    assert status == 0
    assert not np.array_equal(out, add(dataclasses.replace(p, output_offset=-127), x1, x2))
