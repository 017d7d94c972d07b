"""The optimized convolutions (ekd_conv2d_1x1_s8, ekd_conv2d_im2col_s8,
ekd_depthwise_conv2d_fast_s8), portable C path on the host, against the numpy reference:
random shapes and quantization within the kernels' preconditions, byte for byte. Their Arm
DSP path runs the same kind of cases on an emulated Cortex-M4
(tests/runtime_c/test_kernels_on_board.py)."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from edgekd.codegen.inplace import Window, raster_lead
from edgekd.codegen.kernel_table import row
from edgekd.codegen.optimized import winograd_scratch_bytes
from edgekd.reference.params import ConvParams

from .ekd_runtime import EKD_ERROR_ARGUMENT
from .ekd_strategies import kernel_settings

from .fast_cases import (
    KERNELS, LAYER_SHAPES, FastCase, fast_cases, layer_case, mat_mult_block_bytes,
)

EKD_ERROR_SCRATCH = -2


def run_fast(runtime, case: FastCase, scratch_bytes: int | None = None,
             shift_scratch: int = 0, lead: int | None = None) -> tuple[int, np.ndarray]:
    """(status, output) of case.kernel with the scratch its *_scratch_size asks for; with
    ``lead``, in place: the output at byte 0 of one buffer, the input ``lead`` bytes on."""
    ffi, lib = runtime.ffi, runtime.lib
    p = case.params
    x = np.ascontiguousarray(case.x, dtype=np.int8)
    w = np.ascontiguousarray(case.c_filter).view(np.int8)  # int16 for Winograd
    b = None if case.c_bias is None else np.ascontiguousarray(case.c_bias, dtype=np.int32)
    out = np.full(case.out_shape, 0x5A, dtype=np.int8)
    x_ptr = runtime.ptr("int8_t", x)
    out_ptr = runtime.ptr("int8_t", out)
    if lead is not None:
        buffer = np.full(max(out.size, lead + x.size), 0x5A, dtype=np.int8)
        buffer[lead:lead + x.size] = x.reshape(-1)
        x_ptr = ffi.from_buffer("int8_t[]", buffer[lead:])
        out_ptr = ffi.from_buffer("int8_t[]", buffer)
    dims = [runtime.dims(*x.shape), runtime.dims(*case.w.shape),
            runtime.dims(*case.out_shape)]
    size_function = getattr(lib, case.kernel + "_scratch_size", None)
    need = size_function(*dims) if size_function is not None else 0
    size = need if scratch_bytes is None else scratch_bytes
    scratch = np.zeros(size // 4 + 2, dtype=np.uint32)  # 4-byte aligned
    ctx = ffi.new("ekd_context *")
    ctx.buf = ffi.cast("void *", ffi.cast("char *", ffi.from_buffer(scratch)) + shift_scratch)
    ctx.size = size
    quant, keep = runtime.quant(p.multiplier, p.shift)
    status = getattr(lib, case.kernel)(
        ctx, runtime.conv_params(p), quant, dims[0], x_ptr,
        dims[1], runtime.ptr("int8_t", w), runtime.ptr("int32_t", b),
        dims[2], out_ptr)
    del keep
    if lead is not None:
        out = buffer[:out.size].reshape(case.out_shape).copy()
    return status, out


@pytest.mark.parametrize("kernel", KERNELS)
@kernel_settings(250)
@given(data=st.data())
def test_fast_kernel_matches_reference_bytes(runtime, kernel, data):
    case = data.draw(fast_cases(kernel))
    status, out = run_fast(runtime, case)
    assert status == 0
    assert np.array_equal(out, case.expected)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("shape", LAYER_SHAPES, ids=str)
def test_fast_kernel_on_layer_shapes(runtime, kernel, shape):
    in_c, out_c, size, stride = shape
    case = layer_case(kernel, in_c, out_c, size, stride, seed=in_c * 100 + size[0])
    status, out = run_fast(runtime, case)
    assert status == 0
    assert np.array_equal(out, case.expected)


def in_place_lead(case: FastCase) -> int:
    """The lead the planner gives the kernel's layer (its kernel_table row's order; the
    matrix and Winograd kernels' orders read the output width alone)."""
    p = case.params
    window = Window(tuple(case.x.shape), tuple(case.out_shape), tuple(case.w.shape[1:3]),
                    (p.stride_h, p.stride_w), (p.dilation_h, p.dilation_w), (p.pad_h, p.pad_w))
    return max(0, raster_lead(window, row(case.kernel).order(
        SimpleNamespace(out_w=case.out_shape[2]))))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("shape", LAYER_SHAPES, ids=str)
def test_fast_kernel_runs_in_place_at_its_lead(runtime, kernel, shape):
    in_c, out_c, size, stride = shape
    case = layer_case(kernel, in_c, out_c, size, stride, seed=in_c * 7 + size[1])
    status, out = run_fast(runtime, case, lead=in_place_lead(case))
    assert status == 0
    assert np.array_equal(out, case.expected)


@pytest.mark.parametrize("kernel", KERNELS)
@kernel_settings(60)
@given(data=st.data())
def test_fast_kernel_runs_in_place_on_random_layers(runtime, kernel, data):
    case = data.draw(fast_cases(kernel))
    lead = in_place_lead(case)
    # inplace.raster_lead overflows to ~2^63 when every window lies in the padding (no
    # pixel reads anything); such a layer is left out here.
    assume(lead < 1 << 20)
    status, out = run_fast(runtime, case, lead=lead)
    assert status == 0
    assert np.array_equal(out, case.expected)


def small_case(kernel: str) -> FastCase:
    """A 4x4x8 input, 8 channels out, 1x1 or 3x3 VALID, shift -3 everywhere."""
    rng = np.random.default_rng(3)
    depthwise = "depthwise" in kernel
    kh = 1 if kernel == "ekd_conv2d_1x1_s8" else 3
    p = ConvParams(input_offset=5, output_offset=-3, stride_h=1, stride_w=1, dilation_h=1,
                   dilation_w=1, pad_h=0, pad_w=0, depth_multiplier=1, activation_min=-128,
                   activation_max=127, multiplier=np.full(8, 1 << 30, dtype=np.int32),
                   shift=np.full(8, -3, dtype=np.int32))
    x = rng.integers(-128, 128, size=(1, 4, 4, 8), dtype=np.int8)
    w = rng.integers(-127, 128, size=(1, kh, kh, 8) if depthwise else (8, kh, kh, 8),
                     dtype=np.int8)
    out = 4 - kh + 1
    return FastCase(kernel, p, x, w, None, (1, out, out, 8))


@pytest.mark.parametrize("kernel", KERNELS)
def test_fast_kernel_rejects_what_it_cannot_compute(runtime, kernel):
    case = small_case(kernel)
    assert run_fast(runtime, case)[0] == 0
    left_shift = dataclasses.replace(
        case, params=dataclasses.replace(case.params, shift=np.full(8, 1, dtype=np.int32)))
    assert run_fast(runtime, left_shift)[0] == EKD_ERROR_ARGUMENT
    negative = dataclasses.replace(case, params=dataclasses.replace(
        case.params, multiplier=np.full(8, -5, dtype=np.int32)))
    assert run_fast(runtime, negative)[0] == EKD_ERROR_ARGUMENT


@pytest.mark.parametrize("kernel", ["ekd_conv2d_1x1_s8", "ekd_conv2d_im2col_s8",
                                    "ekd_conv2d_winograd_s8"])
def test_fast_kernel_checks_its_scratch(runtime, kernel):
    case = small_case(kernel)
    need = getattr(runtime.lib, kernel + "_scratch_size")(
        runtime.dims(*case.x.shape), runtime.dims(*case.w.shape), runtime.dims(*case.out_shape))
    depth = 8 * (1 if kernel.endswith("1x1_s8") else 9)
    assert need == (winograd_scratch_bytes(8) if "winograd" in kernel
                    else mat_mult_block_bytes(depth))
    assert run_fast(runtime, case, scratch_bytes=need - 1)[0] == EKD_ERROR_SCRATCH
    assert run_fast(runtime, case, shift_scratch=2)[0] == EKD_ERROR_ARGUMENT
