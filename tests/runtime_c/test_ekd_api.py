"""The contract of runtime_c/include/edgekd/ekd.h beyond the arithmetic: scratch sizes,
the context argument, and EKD_ERROR_ARGUMENT for arguments no valid model produces."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from .ekd_runtime import EKD_ERROR_ARGUMENT, EKD_OK, KernelError

from edgekd.reference.conv import conv2d
from edgekd.reference.params import AddParams, ConvParams, PoolParams, SoftmaxParams


def conv_case(depthwise: bool = False):
    """A small valid 3x3 convolution (or depthwise with multiplier 2) and its reference."""
    rng = np.random.default_rng(7)
    in_c, out_c = (3, 6) if depthwise else (3, 4)
    x = rng.integers(-128, 128, size=(1, 5, 5, in_c), dtype=np.int8)
    w_shape = (1, 3, 3, out_c) if depthwise else (out_c, 3, 3, in_c)
    w = rng.integers(-127, 128, size=w_shape, dtype=np.int8)
    p = ConvParams(input_offset=5, output_offset=-3, stride_h=1, stride_w=1, dilation_h=1,
                   dilation_w=1, pad_h=1, pad_w=1, depth_multiplier=2 if depthwise else 1,
                   activation_min=-128, activation_max=127,
                   multiplier=np.full(out_c, 1 << 30, dtype=np.int32),
                   shift=np.full(out_c, -8, dtype=np.int32))
    return p, x, w, (1, 5, 5, out_c)


@pytest.mark.parametrize("kernel", ["ekd_conv2d_s8_scratch_size",
                                    "ekd_depthwise_conv2d_s8_scratch_size"])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 49, 10, 64), (2, 32, 32, 16)])
def test_portable_kernels_need_no_scratch(runtime, kernel, shape):
    dims = runtime.dims(*shape)
    filter_dims = runtime.dims(shape[3], 3, 3, shape[3])
    assert getattr(runtime.lib, kernel)(dims, filter_dims, dims) == 0


@pytest.mark.parametrize("context", ["null pointer", "empty", "spare buffer"])
def test_conv_accepts_any_context_when_no_scratch_is_needed(runtime, context):
    p, x, w, out_shape = conv_case()
    expected = conv2d(p, x, w, None, out_shape)
    spare = runtime.ffi.new("int8_t[]", 64)
    ctx = {"null pointer": runtime.ffi.NULL,
           "empty": runtime.ffi.new("ekd_context *"),
           "spare buffer": runtime.ffi.new("ekd_context *", {"buf": spare, "size": 64})}[context]
    out = np.zeros(out_shape, dtype=np.int8)
    quant, keep = runtime.quant(p.multiplier, p.shift)
    status = runtime.lib.ekd_conv2d_s8(
        ctx, runtime.conv_params(p), quant, runtime.dims(*x.shape), runtime.ptr("int8_t", x),
        runtime.dims(*w.shape), runtime.ptr("int8_t", w), runtime.ffi.NULL,
        runtime.dims(*out_shape), runtime.ptr("int8_t", out))
    assert status == EKD_OK
    assert np.array_equal(out, expected)


BAD_CONV = {
    "stride 0": {"stride_h": 0},
    "dilation 0": {"dilation_w": 0},
    "negative padding": {"pad_h": -1},
    "activation min above max": {"activation_min": 10, "activation_max": 9},
    "activation beyond int8": {"activation_max": 128},
    "input offset beyond int8 range": {"input_offset": 300},
    "shift beyond 1024": {"shift": np.full(4, 1025, dtype=np.int32)},
    "shift below -31": {"shift": np.full(4, -32, dtype=np.int32)},
}
BAD_DEPTHWISE = {"depth multiplier 0": {"depth_multiplier": 0}}  # CONV_2D ignores it


@pytest.mark.parametrize("depthwise, change", [
    *((False, change) for change in sorted(BAD_CONV)),
    *((True, change) for change in sorted({**BAD_CONV, **BAD_DEPTHWISE})),
])
def test_conv_rejects_invalid_parameters(runtime, depthwise, change):
    p, x, w, out_shape = conv_case(depthwise)
    fields = dict({**BAD_CONV, **BAD_DEPTHWISE}[change])
    if "shift" in fields:
        fields["shift"] = np.resize(fields["shift"], out_shape[3])
    bad = dataclasses.replace(p, **fields)
    kernel = runtime.depthwise_conv2d if depthwise else runtime.conv2d
    with pytest.raises(KernelError, match=f"status {EKD_ERROR_ARGUMENT}"):
        kernel(bad, x, w, None, out_shape)


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "depthwise"])
def test_conv_rejects_mismatched_dimensions(runtime, depthwise):
    p, x, w, out_shape = conv_case(depthwise)
    wrong_channels = out_shape[:3] + (out_shape[3] + 1,)
    kernel = runtime.depthwise_conv2d if depthwise else runtime.conv2d
    with pytest.raises(KernelError, match=f"status {EKD_ERROR_ARGUMENT}"):
        kernel(dataclasses.replace(p, multiplier=np.resize(p.multiplier, wrong_channels[3]),
                                   shift=np.resize(p.shift, wrong_channels[3])),
               x, w, None, wrong_channels)


def test_null_data_pointers_are_rejected(runtime):
    p, x, w, out_shape = conv_case()
    quant, keep = runtime.quant(p.multiplier, p.shift)
    out = np.zeros(out_shape, dtype=np.int8)
    NULL = runtime.ffi.NULL
    status = runtime.lib.ekd_conv2d_s8(
        NULL, runtime.conv_params(p), quant, runtime.dims(*x.shape), NULL,
        runtime.dims(*w.shape), runtime.ptr("int8_t", w), NULL, runtime.dims(*out_shape),
        runtime.ptr("int8_t", out))
    assert status == EKD_ERROR_ARGUMENT
    x8 = np.zeros(8, dtype=np.int8)
    add = AddParams(0, 1 << 30, -1, 0, 1 << 30, -1, 20, 0, 1 << 30, -19, -128, 127)
    assert runtime.lib.ekd_add_s8(runtime.add_params(add), 8, NULL, runtime.ptr("int8_t", x8),
                                  runtime.ptr("int8_t", x8)) == EKD_ERROR_ARGUMENT
    assert runtime.lib.ekd_quantize_f32_s8(0.5, 0, 8, NULL, runtime.ptr("int8_t", x8)) \
        == EKD_ERROR_ARGUMENT


def test_add_rejects_multipliers_above_one(runtime):
    good = AddParams(0, 1 << 30, -1, 0, 1 << 30, -1, 20, 0, 1 << 30, -19, -128, 127)
    x = np.zeros(4, dtype=np.int8)
    assert runtime.add(good, x, x).tolist() == [0] * 4
    with pytest.raises(KernelError, match=f"status {EKD_ERROR_ARGUMENT}"):
        runtime.add(dataclasses.replace(good, input1_shift=1), x, x)


def test_average_pool_rejects_a_window_entirely_in_padding(runtime):
    """TFLM fails AVERAGE_POOL_2D when a window covers no input value (count 0)."""
    p = PoolParams(stride_h=1, stride_w=1, filter_h=1, filter_w=1, pad_h=1, pad_w=0,
                   activation_min=-128, activation_max=127)
    with pytest.raises(KernelError, match=f"status {EKD_ERROR_ARGUMENT}"):
        runtime.average_pool(p, np.zeros((1, 2, 2, 1), dtype=np.int8), (1, 2, 2, 1))


def test_softmax_and_quantize_reject_invalid_parameters(runtime):
    x = np.zeros((1, 4), dtype=np.int8)
    with pytest.raises(KernelError, match=f"status {EKD_ERROR_ARGUMENT}"):
        runtime.softmax(SoftmaxParams(input_multiplier=1 << 30, input_left_shift=32,
                                      diff_min=-10), x)
    out = np.zeros(4, dtype=np.int8)
    values = np.zeros(4, dtype=np.float32)
    for scale, zero_point in ((0.0, 0), (-1.0, 0), (float("nan"), 0), (0.5, 128)):
        assert runtime.lib.ekd_quantize_f32_s8(scale, zero_point, 4, runtime.ptr("float", values),
                                               runtime.ptr("int8_t", out)) == EKD_ERROR_ARGUMENT
