"""Every failure a user can cause is an EdgeKDError.

The CLI prints ``str(error)`` as one line and exits 2; a traceback appears only with
``--debug``. Messages name the file, the node and what is wrong, e.g.
``model.tflite: operator 7 (MEAN): unsupported op; supported: CONV_2D, ...``.
"""
from __future__ import annotations


class EdgeKDError(Exception):
    """A user-facing failure: bad input, unsupported feature, missing toolchain."""


class ModelFormatError(EdgeKDError):
    """A model file is malformed, truncated or not what its extension says."""


class UnsupportedError(EdgeKDError):
    """The model uses an op, dtype or option edgekd does not support."""


class GraphError(EdgeKDError):
    """The IR graph is inconsistent (shapes, quantization parameters, wiring)."""


class ToolchainError(EdgeKDError):
    """A compiler, emulator or system package needed for the step is missing or failed."""


class BoardFitError(EdgeKDError):
    """A model does not fit a board's flash or RAM."""


class VerificationError(EdgeKDError):
    """Generated code ran but did not produce the reference's bytes, hung or faulted."""


class InternalError(EdgeKDError):
    """edgekd caught itself about to produce something it cannot prove right (an arena
    plan that may overwrite a byte still needed): a bug in edgekd, not in the input."""
