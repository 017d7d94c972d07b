"""ekd_dynamic_fully_connected_f32 (runtime_c/src/ekd_dynamic_fully_connected_f32.c)
against the numpy reference dynamic_fully_connected: float32 outputs equal byte for byte,
including under flags that let the compiler fuse multiply-adds."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekd.errors import EdgeKDError
from edgekd.reference.dynamic_fully_connected import (dynamic_fully_connected,
                                                      quantize_vector)
from edgekd.reference.params import FLOAT_ACTIVATION_RANGES, DynamicFullyConnectedParams
from edgekd.verify.cffi_build import compile_runtime

from .ekd_runtime import EKD_ERROR_ARGUMENT, EKD_OK, RuntimeKernels, host_build_flags
from .ekd_strategies import int8_arrays, kernel_settings

EKD_ERROR_SCRATCH = -2
INPUT_FILLS = ("normal", "positive", "negative", "zeros", "constant", "tiny", "huge",
               "halves", "one_nonzero")


def float_rows(rng: np.random.Generator, fill: str, shape: tuple[int, int]) -> np.ndarray:
    """float32 inputs: noise at any magnitude, one-signed rows, all-zero rows, constants,
    ranges too small to scale, values near FLT_MAX, and grids whose quantization lands on
    halves (scale exactly 1)."""
    magnitude = 10.0 ** rng.uniform(-30, 30)
    if fill == "normal":
        x = rng.normal(size=shape) * magnitude
    elif fill == "positive":
        x = np.abs(rng.normal(size=shape)) * magnitude
    elif fill == "negative":
        x = -np.abs(rng.normal(size=shape)) * magnitude
    elif fill == "zeros":
        x = rng.choice([0.0, -0.0], size=shape)
    elif fill == "constant":
        x = np.full(shape, rng.normal() * magnitude)
    elif fill == "tiny":
        x = rng.normal(size=shape) * 1e-40
    elif fill == "huge":
        x = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(1e38, 3.4e38, size=shape)
    elif fill == "halves":
        # With -128 and 127 present, scale is 1 and the zero point 0: k + 0.5 rounds.
        x = rng.integers(-128, 127, size=shape) + rng.choice([0.0, 0.5], size=shape)
        x[:, 0], x[:, -1] = -128.0, 127.0
    else:
        x = np.zeros(shape)
        x[:, rng.integers(shape[1])] = rng.normal() * magnitude
    return x.astype(np.float32)


@st.composite
def dynamic_cases(draw):
    batches = draw(st.integers(1, 3))
    depth = draw(st.integers(1, 80))
    units = draw(st.integers(1, 16))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = float_rows(rng, draw(st.sampled_from(INPUT_FILLS)), (batches, depth))
    w = draw(int8_arrays((units, depth)))
    scales = (10.0 ** rng.uniform(-8, 1, size=units)).astype(np.float32)
    if draw(st.booleans()):
        scales[:] = scales[0]  # per-tensor weights, repeated
    bias = None
    if draw(st.booleans()):
        bias = (rng.normal(size=units) * 10.0 ** rng.uniform(-4, 4)).astype(np.float32)
    low, high = FLOAT_ACTIVATION_RANGES[draw(st.sampled_from(sorted(FLOAT_ACTIVATION_RANGES)))]
    p = DynamicFullyConnectedParams(activation_min=low, activation_max=high,
                                    weight_scale=scales)
    return p, x, w, bias, (batches, units)


def call_kernel(runtime: RuntimeKernels, p: DynamicFullyConnectedParams, x: np.ndarray,
                w: np.ndarray, bias: np.ndarray | None, out_shape: tuple[int, int],
                scratch_bytes: int | None = None) -> tuple[int, np.ndarray]:
    """(status, float32 output) of the C kernel; scratch as the generated code gives it."""
    ffi, lib = runtime.ffi, runtime.lib
    x = np.ascontiguousarray(x, dtype=np.float32)
    w = np.ascontiguousarray(w, dtype=np.int8)
    scales = np.ascontiguousarray(p.weight_scale, dtype=np.float32)
    bias = None if bias is None else np.ascontiguousarray(bias, dtype=np.float32)
    out = np.full(out_shape, np.nan, dtype=np.float32)
    batches, units = out_shape
    depth = w.shape[1]
    in_dims, w_dims = runtime.dims(batches, 1, 1, depth), runtime.dims(units, 1, 1, depth)
    out_dims = runtime.dims(batches, 1, 1, units)
    needed = lib.ekd_dynamic_fully_connected_f32_scratch_size(in_dims, w_dims, out_dims)
    size = needed if scratch_bytes is None else scratch_bytes
    scratch = ffi.new("int8_t[]", max(size, 1))
    ctx = ffi.new("ekd_context *", {"buf": scratch, "size": size})
    params = ffi.new("ekd_dynamic_fc_params *", {"activation_min": p.activation_min,
                                                 "activation_max": p.activation_max})
    status = lib.ekd_dynamic_fully_connected_f32(
        ctx, params, runtime.ptr("float", scales), in_dims, runtime.ptr("float", x),
        w_dims, runtime.ptr("int8_t", w), runtime.ptr("float", bias), out_dims,
        runtime.ptr("float", out))
    return status, out


def assert_same_bytes(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype == np.float32
    differs = actual.view(np.uint32) != expected.view(np.uint32)
    assert not differs.any(), (f"{int(differs.sum())} values differ, first: "
                               f"C {actual[differs][0]!r} vs reference {expected[differs][0]!r}")


@kernel_settings(400)
@given(case=dynamic_cases())
def test_dynamic_fully_connected_matches_reference_bytes(runtime, case):
    p, x, w, bias, out_shape = case
    expected = dynamic_fully_connected(p, x, w, bias, out_shape)
    status, actual = call_kernel(runtime, p, x, w, bias, out_shape)
    assert status == EKD_OK
    assert_same_bytes(actual, expected)


def cpu_has_fma() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.is_file() and " fma" in cpuinfo.read_text()


@pytest.fixture(scope="module")
def fma_runtime() -> RuntimeKernels:
    """The runtime built as a user's firmware build may be: GNU C, FMA instructions
    available and contraction allowed across statements."""
    if not cpu_has_fma():
        pytest.skip("the host CPU has no fused multiply-add")
    _, link_args = host_build_flags()
    return RuntimeKernels(*compile_runtime(
        extra_compile_args=["-std=gnu99", "-O3", "-mfma", "-ffp-contract=fast"],
        extra_link_args=link_args))


@kernel_settings(200)
@given(case=dynamic_cases())
def test_fused_multiply_add_does_not_change_the_result(fma_runtime, case):
    # GCC fuses the input quantization's x * inverse + zero point here (vfmadd) unless the
    # kernel rounds the product on its own; random rows rarely show it, the row below does.
    p, x, w, bias, out_shape = case
    status, actual = call_kernel(fma_runtime, p, x, w, bias, out_shape)
    assert status == EKD_OK
    assert_same_bytes(actual, dynamic_fully_connected(p, x, w, bias, out_shape))


def row_sensitive_to_fusion() -> np.ndarray:
    """An input row [low, high, x] whose zero point is -3 and where x * inverse lies just
    above 2.5, within half a float32 ulp: the rounded product is 2.5, so -3 + 2.5 = -0.5
    rounds to -1, while a fused multiply-add gives -0.49999... and 0."""
    for s in np.linspace(0.1, 0.2, 101):
        row = np.array([-125 * s, 130 * s, 0.0], dtype=np.float32)
        _, scale, zero_point = quantize_vector(row)
        inverse = float(np.float32(1.0 / float(scale)))
        start = np.float32(2.5 / inverse)
        for k in range(-8, 9):
            x = np.float32(start + np.float32(k) * np.spacing(start))
            product = float(x) * inverse  # exact in double
            if zero_point == -3 and 2.5 < product < 2.5 + 2.0 ** -23:
                row[2] = x
                return row
    raise AssertionError("no fusion-sensitive row found")


def test_quantization_rounds_the_product_before_adding_the_zero_point():
    row = row_sensitive_to_fusion()
    q, scale, zero_point = quantize_vector(row)
    inverse = float(np.float32(1.0 / float(scale)))
    fused = zero_point + float(row[2]) * inverse  # one rounding: exact in double here
    assert -0.5 < fused < 0  # a fused multiply-add would give 0
    assert q[2] == -1


def test_fused_multiply_add_does_not_change_a_sensitive_row(fma_runtime):
    row = row_sensitive_to_fusion()[None, :]
    p = DynamicFullyConnectedParams(activation_min=-3.0e38, activation_max=3.0e38,
                                    weight_scale=np.array([0.5], dtype=np.float32))
    w = np.array([[0, 0, 1]], dtype=np.int8)  # the output is (q[2] - zero point) * scales
    status, actual = call_kernel(fma_runtime, p, row, w, None, (1, 1))
    assert status == EKD_OK
    assert_same_bytes(actual, dynamic_fully_connected(p, row, w, None, (1, 1)))


def simple_case(units: int = 3, depth: int = 4):
    rng = np.random.default_rng(3)
    p = DynamicFullyConnectedParams(activation_min=-3.0e38, activation_max=3.0e38,
                                    weight_scale=np.full(units, 0.01, dtype=np.float32))
    x = rng.normal(size=(1, depth)).astype(np.float32)
    w = rng.integers(-127, 128, size=(units, depth), dtype=np.int8)
    return p, x, w, (1, units)


def test_scratch_is_one_int8_row(runtime):
    lib = runtime.lib
    assert lib.ekd_dynamic_fully_connected_f32_scratch_size(
        runtime.dims(2, 1, 1, 64), runtime.dims(10, 1, 1, 64), runtime.dims(2, 1, 1, 10)) == 64


def test_too_little_scratch_is_refused(runtime):
    p, x, w, out_shape = simple_case()
    status, _ = call_kernel(runtime, p, x, w, None, out_shape, scratch_bytes=x.shape[1] - 1)
    assert status == EKD_ERROR_SCRATCH


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_an_error_in_both(runtime, value):
    p, x, w, out_shape = simple_case()
    x[0, 2] = value
    status, _ = call_kernel(runtime, p, x, w, None, out_shape)
    assert status == EKD_ERROR_ARGUMENT
    with pytest.raises(EdgeKDError, match="must be finite"):
        dynamic_fully_connected(p, x, w, None, out_shape)


@pytest.mark.parametrize("change", [
    {"weight_scale": np.array([0.01, 0.0, 0.01], dtype=np.float32)},
    {"weight_scale": np.array([0.01, -1.0, 0.01], dtype=np.float32)},
    {"weight_scale": np.array([0.01, np.inf, 0.01], dtype=np.float32)},
    {"weight_scale": np.array([0.01, 127.5, 0.01], dtype=np.float32)},
    {"activation_min": 1.0, "activation_max": 0.0},
    {"activation_min": float("nan")},
])
def test_invalid_parameters_are_refused(runtime, change):
    p, x, w, out_shape = simple_case()
    status, _ = call_kernel(runtime, dataclasses.replace(p, **change), x, w, None, out_shape)
    assert status == EKD_ERROR_ARGUMENT
