"""The ranges the C runtime accepts for each layer's offline parameters, checked at
compile time: a model whose parameters the runtime would refuse (its kernel returning
EKD_ERROR_ARGUMENT on every input) is refused by ``compile`` instead, naming the layer.

The limits mirror runtime_c/src/ekd_fixedpoint.h and ekd_validate.h
(tests/codegen/test_ranges.py reads them from there). Where TFLM accepts a parameter the
runtime once refused (a requantization shift above 30, from an output scale far below
input x weight scale), the runtime was extended to compute what TFLM does instead.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from edgekd.reference.params import (
    AddParams, ConvParams, DynamicFullyConnectedParams, FullyConnectedParams, PoolParams,
    SoftmaxParams,
)

SHIFT_MIN, SHIFT_MAX = -31, 1024  # EKD_SHIFT_MIN, EKD_SHIFT_MAX
# The largest requantization shift the optimized and Helium kernels take; a layer with
# a larger one runs on the portable kernel (codegen/kernels.py).
FAST_SHIFT_MAX = 30
OFFSET_LIMIT = 255  # EKD_OFFSET_LIMIT
MULTIPLIER_MAX = (1 << 31) - 1
ADD_LEFT_SHIFT_MAX = 22


def range_problem(params) -> str | None:
    """What in ``params`` (a record of edgekd.reference.params) the C runtime refuses, or
    None."""
    if isinstance(params, DynamicFullyConnectedParams):
        return None  # float arithmetic: no integer ranges
    fields = dataclasses.asdict(params) if dataclasses.is_dataclass(params) else {}
    for name, value in fields.items():
        if name.endswith("_offset") and not -OFFSET_LIMIT <= value <= OFFSET_LIMIT:
            return f"{name} {value} is outside [-{OFFSET_LIMIT}, {OFFSET_LIMIT}]"
    if "activation_min" in fields and not (
            -128 <= params.activation_min <= params.activation_max <= 127):
        return (f"activation range [{params.activation_min}, {params.activation_max}] is "
                "not an int8 range")
    if isinstance(params, (ConvParams, FullyConnectedParams)):
        return (_outside("multiplier", params.multiplier, 0, MULTIPLIER_MAX)
                or _outside("shift", params.shift, SHIFT_MIN, SHIFT_MAX))
    if isinstance(params, AddParams):
        for k in ("input1", "input2", "output"):
            problem = (_outside(f"{k}_multiplier", getattr(params, f"{k}_multiplier"), 0,
                                MULTIPLIER_MAX)
                       or _outside(f"{k}_shift", getattr(params, f"{k}_shift"), SHIFT_MIN, 0))
            if problem:
                return problem
        return _outside("left_shift", params.left_shift, 0, ADD_LEFT_SHIFT_MAX)
    if isinstance(params, SoftmaxParams):
        return (_outside("input_left_shift", params.input_left_shift, 0, 31)
                or _outside("diff_min", params.diff_min, -(1 << 31), 0))
    if isinstance(params, PoolParams):
        return _outside("stride", [params.stride_h, params.stride_w], 1, 1 << 30)
    return None


def fast_shifts(params) -> bool:
    """Whether the optimized and Helium kernels take the layer's shifts."""
    return bool(np.all(np.asarray(params.shift) <= FAST_SHIFT_MAX))


def _outside(name: str, values, low: int, high: int) -> str | None:
    values = np.atleast_1d(np.asarray(values, dtype=np.int64))
    bad = np.flatnonzero((values < low) | (values > high))
    if bad.size == 0:
        return None
    where = f" (channel {bad[0]})" if values.size > 1 else ""
    return f"{name} {values[bad[0]]}{where} is outside [{low}, {high}]"
