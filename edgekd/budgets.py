"""Limits checked before memory is allocated or time is spent on what an input claims.

A valid 472-byte model can declare a 4 GiB tensor, a .npy header any shape, an ONNX
model external data of any size: each is checked against a budget first, and refused
with a one-line error naming the file, what it claims and the limit, never a
MemoryError or a machine brought to its knees. The limits are generous for
microcontroller models and can be raised through environment variables:

- ``EDGEKD_MAX_TENSOR_BYTES`` (default 1 GiB): one tensor of a model or one array of a
  .npy/.npz file;
- ``EDGEKD_MAX_BATCH_BYTES`` (default 1 GiB): all the samples one verification runs;
- ``EDGEKD_MAX_EXTERNAL_BYTES`` (default 4 GiB): an ONNX model's external data, in all.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from edgekd.errors import EdgeKDError

GIB = 1 << 30


class BudgetError(EdgeKDError):
    """An input claims more memory than a configured limit allows."""


@dataclass(frozen=True)
class Budget:
    variable: str
    default: int
    what: str

    @property
    def limit(self) -> int:
        text = os.environ.get(self.variable)
        if text is None:
            return self.default
        try:
            value = int(text)
        except ValueError:
            raise BudgetError(f"{self.variable}={text!r} is not a number of bytes") from None
        if value < 1:
            raise BudgetError(f"{self.variable}={text!r} must be a positive number of bytes")
        return value

    def check(self, label: str, nbytes: int, claim: str = "") -> None:
        """Raise BudgetError when ``nbytes`` is above the limit."""
        limit = self.limit
        if nbytes > limit:
            raise BudgetError(f"{label}: {claim + ' ' if claim else ''}needs {_size(nbytes)}, "
                              f"above the {_size(limit)} limit for {self.what} (raise it with "
                              f"{self.variable})")


TENSOR = Budget("EDGEKD_MAX_TENSOR_BYTES", GIB, "one tensor or array")
BATCH = Budget("EDGEKD_MAX_BATCH_BYTES", GIB, "the samples of one run")
EXTERNAL = Budget("EDGEKD_MAX_EXTERNAL_BYTES", 4 * GIB, "an ONNX model's external data")


def _size(nbytes: int) -> str:
    for unit, scale in (("GiB", GIB), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"
