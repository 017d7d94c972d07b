"""Every failure a user can cause is an EdgeKDError.

The CLI prints ``str(error)`` as one line and exits with the error's ``exit_code`` (the
table below, documented in docs/cli.md); a traceback appears only with ``--debug``.
Messages name the file, the node and what is wrong, e.g.
``model.tflite: operator 7 (MEAN): unsupported op; supported: CONV_2D, ...``.
"""
from __future__ import annotations

# The exit status of the `edgekd` command.
EXIT_OK = 0
EXIT_MISMATCH = 1  # verification ran and the generated code differs from the reference
EXIT_USAGE = 2  # bad arguments or input files
EXIT_MISSING = 3  # a tool or Python package the step needs is missing (or the tool failed)
EXIT_INTERNAL = 4  # a bug in edgekd: any exception that is not an EdgeKDError

# Optional Python packages and the extra of pyproject.toml that installs each.
EXTRAS = {"torch": "train", "sklearn": "train", "onnxruntime": "train",
          "matplotlib": "train", "tflite_micro": "oracle"}


class EdgeKDError(Exception):
    """A user-facing failure: bad input, unsupported feature, missing toolchain."""

    exit_code = EXIT_USAGE


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its type when the message is empty
    (``torch.load`` of an empty file raises an EOFError without one)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class InstallationError(EdgeKDError):
    """edgekd's own files are missing: a broken installation, not the user's input."""

    exit_code = EXIT_INTERNAL


class ModelFormatError(EdgeKDError):
    """A model file is malformed, truncated or not what its extension says."""


class UnsupportedError(EdgeKDError):
    """The model uses an op, dtype or option edgekd does not support."""


class GraphError(EdgeKDError):
    """The IR graph is inconsistent (shapes, quantization parameters, wiring)."""


class ToolchainError(EdgeKDError):
    """A compiler, emulator or system package needed for the step is missing or failed."""

    exit_code = EXIT_MISSING


class MissingDependencyError(ToolchainError):
    """A Python package of an extra (``pip install 'edgekd[train]'``) is not installed."""


def missing_dependency(error: ModuleNotFoundError, what: str = "this command"
                       ) -> MissingDependencyError | None:
    """The one-line error for an optional package's ImportError, None for any other module
    (a missing module that is not optional is a broken installation: an internal error)."""
    top = (error.name or "").partition(".")[0]
    extra = EXTRAS.get(top)
    if extra is None:
        return None
    return MissingDependencyError(f"{what} needs the Python package {top!r}, which is not "
                                  f"installed: pip install 'edgekd[{extra}]'")


class BoardFitError(EdgeKDError):
    """A model does not fit a board's flash or RAM."""


class VerificationError(EdgeKDError):
    """Generated code ran but did not produce the reference's bytes, hung or faulted."""

    exit_code = EXIT_MISMATCH


class InternalError(EdgeKDError):
    """edgekd caught itself about to produce something it cannot prove right (an arena
    plan that may overwrite a byte still needed): a bug in edgekd, not in the input."""

    exit_code = EXIT_INTERNAL
