"""The op registry: complete over the IR, and every C kernel it names exists in ekd.h."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgekd.errors import UnsupportedError
from edgekd.ir import OPS
from edgekd.registry import OP_SPECS, op_spec

EKD_H = Path(__file__).resolve().parent.parent / "runtime_c" / "include" / "edgekd" / "ekd.h"


def test_every_ir_op_has_a_spec():
    assert sorted(OP_SPECS) == sorted(OPS)
    assert all(op_spec(op).op == op for op in OPS)


def test_c_kernels_are_declared_in_the_runtime_header():
    declared = set(re.findall(r"ekd_status\s+(ekd_\w+)\s*\(", EKD_H.read_text()))
    kernels = [spec.c_kernel for spec in OP_SPECS.values() if spec.c_kernel is not None]
    assert len(kernels) == len(OPS) - 1  # RESHAPE only aliases
    assert set(kernels) <= declared
    assert OP_SPECS["RESHAPE"].c_kernel is None


def test_unknown_op_names_the_supported_ones():
    with pytest.raises(UnsupportedError, match="SVDF.*supported: CONV_2D"):
        op_spec("SVDF")
