"""The numpy integer reference: one function per op, bit-exact with TFLM's reference kernels.

``run(graph, inputs)`` evaluates a graph; ``run_all`` also returns every intermediate;
``run_all_batch`` does that for many samples at once.
"""
from __future__ import annotations

from typing import Any

__all__ = ["run", "run_all", "run_all_batch"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the interpreter needs edgekd.registry, which imports the
    # kernels of this package, so an eager import here would be circular.
    if name in __all__:
        from edgekd.reference import interpreter
        return getattr(interpreter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
