"""numpy-level wrappers of the compiled C runtime's kernels (the ``runtime`` fixture).

Each wrapper takes the same arguments as the matching function in edgekd/reference/ (the
parameter records of edgekd/reference/params.py and numpy arrays), calls the C kernel and
returns its output array, so a test compares the two outputs byte for byte.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from edgekd.reference.params import (
    AddParams,
    ConvParams,
    FullyConnectedParams,
    PoolParams,
    QuantizeParams,
    SoftmaxParams,
)

EKD_OK = 0
EKD_ERROR_ARGUMENT = -1
SANITIZE_ENV = "EDGEKD_SANITIZE"


def host_build_flags() -> tuple[list[str], list[str]]:
    """(compile, link) flags of the host build: strict C99, optimised, and a sanitizer
    (stopping at its first finding) when EDGEKD_SANITIZE names one."""
    compile_args = ["-std=c99", "-O2"]
    sanitizer = os.environ.get(SANITIZE_ENV)
    if not sanitizer:
        return compile_args, []
    sanitize = [f"-fsanitize={sanitizer}", "-fno-sanitize-recover=all"]
    return compile_args + sanitize + ["-g"], sanitize


class KernelError(AssertionError):
    """A kernel returned a status other than EKD_OK."""


class RuntimeKernels:
    """Calls into the compiled runtime with numpy arrays in and out."""

    def __init__(self, ffi: Any, lib: Any) -> None:
        self.ffi = ffi
        self.lib = lib

    # -- marshalling -------------------------------------------------------------------

    def dims(self, n: int, h: int, w: int, c: int) -> Any:
        return self.ffi.new("ekd_dims *", {"n": n, "h": h, "w": w, "c": c})

    def ptr(self, ctype: str, array: np.ndarray | None) -> Any:
        """A C array over a C-contiguous numpy array (NULL for None); keep the array alive."""
        if array is None:
            return self.ffi.NULL
        assert array.flags.c_contiguous
        return self.ffi.from_buffer(ctype + "[]", array)

    def quant(self, multiplier: np.ndarray, shift: np.ndarray) -> tuple[Any, list]:
        m = np.ascontiguousarray(multiplier, dtype=np.int32)
        s = np.ascontiguousarray(shift, dtype=np.int32)
        q = self.ffi.new("ekd_per_channel_quant *")
        q.multiplier = self.ptr("int32_t", m)
        q.shift = self.ptr("int32_t", s)
        return q, [m, s]

    @staticmethod
    def check(status: int, kernel: str) -> None:
        if status != EKD_OK:
            raise KernelError(f"{kernel} returned status {status}")

    # -- kernels -------------------------------------------------------------------------

    def conv_params(self, p: ConvParams) -> Any:
        return self.ffi.new("ekd_conv_params *", {
            "input_offset": p.input_offset, "output_offset": p.output_offset,
            "stride_h": p.stride_h, "stride_w": p.stride_w,
            "dilation_h": p.dilation_h, "dilation_w": p.dilation_w,
            "pad_h": p.pad_h, "pad_w": p.pad_w, "depth_multiplier": p.depth_multiplier,
            "activation_min": p.activation_min, "activation_max": p.activation_max,
        })

    def _conv_like(self, kernel: str, p: ConvParams, x, w, bias, out_shape) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.int8)
        w = np.ascontiguousarray(w, dtype=np.int8)
        b = None if bias is None else np.ascontiguousarray(bias, dtype=np.int32)
        out = np.zeros(out_shape, dtype=np.int8)
        quant, keep = self.quant(p.multiplier, p.shift)
        ctx = self.ffi.new("ekd_context *")  # {NULL, 0}: the portable kernels need none
        status = getattr(self.lib, kernel)(
            ctx, self.conv_params(p), quant,
            self.dims(*x.shape), self.ptr("int8_t", x),
            self.dims(*w.shape), self.ptr("int8_t", w), self.ptr("int32_t", b),
            self.dims(*out_shape), self.ptr("int8_t", out))
        del keep
        self.check(status, kernel)
        return out

    def conv2d(self, p: ConvParams, x, w, bias, out_shape) -> np.ndarray:
        return self._conv_like("ekd_conv2d_s8", p, x, w, bias, out_shape)

    def depthwise_conv2d(self, p: ConvParams, x, w, bias, out_shape) -> np.ndarray:
        return self._conv_like("ekd_depthwise_conv2d_s8", p, x, w, bias, out_shape)

    def fully_connected(self, p: FullyConnectedParams, x, w, bias, out_shape) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.int8)
        w = np.ascontiguousarray(w, dtype=np.int8)
        b = None if bias is None else np.ascontiguousarray(bias, dtype=np.int32)
        out = np.zeros(out_shape, dtype=np.int8)
        batches = x.size // w.shape[1]
        params = self.ffi.new("ekd_fc_params *", {
            "input_offset": p.input_offset, "filter_offset": p.filter_offset,
            "output_offset": p.output_offset,
            "activation_min": p.activation_min, "activation_max": p.activation_max,
        })
        quant, keep = self.quant(p.multiplier, p.shift)
        status = self.lib.ekd_fully_connected_s8(
            params, quant, self.dims(batches, 1, 1, w.shape[1]), self.ptr("int8_t", x),
            self.dims(w.shape[0], 1, 1, w.shape[1]), self.ptr("int8_t", w),
            self.ptr("int32_t", b), self.dims(batches, 1, 1, w.shape[0]),
            self.ptr("int8_t", out))
        del keep
        self.check(status, "ekd_fully_connected_s8")
        return out

    def pool_params(self, p: PoolParams) -> Any:
        return self.ffi.new("ekd_pool_params *", {
            "stride_h": p.stride_h, "stride_w": p.stride_w,
            "filter_h": p.filter_h, "filter_w": p.filter_w, "pad_h": p.pad_h, "pad_w": p.pad_w,
            "activation_min": p.activation_min, "activation_max": p.activation_max,
        })

    def _pool(self, kernel: str, p: PoolParams, x, out_shape) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.zeros(out_shape, dtype=np.int8)
        status = getattr(self.lib, kernel)(
            self.pool_params(p), self.dims(*x.shape), self.ptr("int8_t", x),
            self.dims(*out_shape), self.ptr("int8_t", out))
        self.check(status, kernel)
        return out

    def average_pool(self, p: PoolParams, x, out_shape) -> np.ndarray:
        return self._pool("ekd_avgpool_s8", p, x, out_shape)

    def max_pool(self, p: PoolParams, x, out_shape) -> np.ndarray:
        return self._pool("ekd_maxpool_s8", p, x, out_shape)

    def add_params(self, p: AddParams) -> Any:
        return self.ffi.new("ekd_add_params *", {
            name: getattr(p, name) for name in AddParams.__dataclass_fields__})

    def add(self, p: AddParams, x1, x2) -> np.ndarray:
        x1 = np.ascontiguousarray(x1, dtype=np.int8)
        x2 = np.ascontiguousarray(x2, dtype=np.int8)
        out = np.zeros(x1.shape, dtype=np.int8)
        status = self.lib.ekd_add_s8(self.add_params(p), x1.size, self.ptr("int8_t", x1),
                                     self.ptr("int8_t", x2), self.ptr("int8_t", out))
        self.check(status, "ekd_add_s8")
        return out

    def softmax(self, p: SoftmaxParams, x) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.zeros(x.shape, dtype=np.int8)
        params = self.ffi.new("ekd_softmax_params *", {
            "input_multiplier": p.input_multiplier, "input_left_shift": p.input_left_shift,
            "diff_min": p.diff_min})
        depth = x.shape[-1]
        status = self.lib.ekd_softmax_s8(params, x.size // depth, depth, self.ptr("int8_t", x),
                                         self.ptr("int8_t", out))
        self.check(status, "ekd_softmax_s8")
        return out

    def quantize(self, p: QuantizeParams, x) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.zeros(x.shape, dtype=np.int8)
        status = self.lib.ekd_quantize_f32_s8(p.scale, p.zero_point, x.size,
                                              self.ptr("float", x),
                                              self.ptr("int8_t", out))
        self.check(status, "ekd_quantize_f32_s8")
        return out

    def dequantize(self, p: QuantizeParams, x) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.zeros(x.shape, dtype=np.float32)
        status = self.lib.ekd_dequantize_s8_f32(p.scale, p.zero_point, x.size,
                                                self.ptr("int8_t", x),
                                                self.ptr("float", out))
        self.check(status, "ekd_dequantize_s8_f32")
        return out

    # -- arithmetic and activations (geometry from edgekd/codegen/geometry.py) ----------

    def lut(self, table: np.ndarray, x: np.ndarray) -> np.ndarray:
        table = np.ascontiguousarray(table, dtype=np.int8)
        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.empty_like(x)
        self.check(self.lib.ekd_lut_s8(self.ptr("int8_t", table), x.size, self.ptr("int8_t", x),
                                       self.ptr("int8_t", out)), "ekd_lut_s8")
        return out

    def reduce(self, kernel: str, params: dict | None, x: np.ndarray, axis,
               out_shape, out_dtype=np.int8) -> np.ndarray:
        """ekd_reduce_sum_s8 (``params``: ekd_reduce_params fields), ekd_reduce_max_s8 or
        ekd_arg_{max,min}_s8 (``params`` None)."""
        from edgekd.codegen.geometry import reduce_shape

        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.empty(out_shape, dtype=out_dtype)
        shape = self.ffi.new("ekd_reduce_shape *", reduce_shape(x.shape, tuple(axis)))
        args = [shape, self.ptr("int8_t", x),
                self.ptr("int32_t" if out_dtype == np.int32 else "int8_t", out)]
        if params is not None:
            args.insert(0, self.ffi.new("ekd_reduce_params *", params))
        self.check(getattr(self.lib, kernel)(*args), kernel)
        return out

    def broadcast(self, kernel: str, struct: str | None, params: dict | None,
                  x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        """A broadcasting binary kernel (ekd_mul_s8, ekd_sub_s8, ekd_prelu_s8,
        ekd_minimum_s8, ekd_maximum_s8); ``struct`` names its parameter type."""
        from edgekd.codegen.geometry import broadcast_shape
        from edgekd.shapes import broadcast_shape as broadcast_dims

        x1 = np.ascontiguousarray(x1, dtype=np.int8)
        x2 = np.ascontiguousarray(x2, dtype=np.int8)
        out = np.empty(broadcast_dims(x1.shape, x2.shape), dtype=np.int8)
        shape = self.ffi.new("ekd_broadcast_shape *",
                             broadcast_shape(x1.shape, x2.shape, out.shape))
        args = [shape, self.ptr("int8_t", x1), self.ptr("int8_t", x2), self.ptr("int8_t", out)]
        if struct is not None:
            args.insert(0, self.ffi.new(f"{struct} *", params))
        self.check(getattr(self.lib, kernel)(*args), kernel)
        return out
