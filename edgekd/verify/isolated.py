"""Run an oracle (TFLM, and whatever else runs third-party native code on a model) in a
child process, so that a crash there cannot take edgekd down with it.

TFLM's interpreter trusts the model it is given: some valid models (a DEPTHWISE_CONV_2D
whose bias index is -1) make it read through a null pointer. In process, that killed
``verify`` with SIGSEGV and no message; in a child, the parent sees the child die, says
"the oracle crashed on this model", and the comparison with the numpy reference still
counts. Exceptions raised in the child (EdgeKDError and others) come back and are raised
in the parent as they were.

The child is a fresh interpreter (``python -m edgekd.verify.isolated``), not a
multiprocessing worker: spawn would re-run the caller's main script, fork would copy its
threads' locks. It reads the pickled call on stdin and writes the pickled answer to its
own copy of stdout (native code printing to stdout cannot corrupt it); the cost is an
interpreter start and the imports.
"""
from __future__ import annotations

import importlib
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from edgekd.errors import EdgeKDError


class OracleCrashed(EdgeKDError):
    """The oracle's process died (a signal, or an exit without a result)."""


def call_isolated(function: Callable[..., Any], *args: Any, label: str) -> Any:
    """``function(*args)`` in a child process; its result, or its exception raised here.
    ``function`` must be importable by name (a module-level function). Raises
    ``OracleCrashed`` naming ``label`` when the child dies without an answer."""
    call = pickle.dumps((function.__module__, function.__qualname__, args))
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # the edgekd this one is
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    child = subprocess.run([sys.executable, "-m", "edgekd.verify.isolated"], input=call,
                           stdout=subprocess.PIPE, env=env, check=False)
    try:
        outcome, value = pickle.loads(child.stdout)
    except Exception:  # no answer, or a truncated one: the child died
        raise OracleCrashed(f"{label}: the oracle crashed on this model "
                            f"({_death(child.returncode)})") from None
    if outcome == "error":
        raise value
    return value


def _death(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode} without a result"


def _main() -> None:
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever the oracle prints goes to stderr, not into the answer
    module, name, args = pickle.loads(sys.stdin.buffer.read())
    try:
        function = importlib.import_module(module)
        for part in name.split("."):
            function = getattr(function, part)
        message = ("result", function(*args))
    except Exception as error:  # returned to the parent, raised there
        message = ("error", error)
    try:
        data = pickle.dumps(message)
    except Exception as error:  # an unpicklable result or exception
        data = pickle.dumps(("error", EdgeKDError(f"the oracle's answer cannot be returned: "
                                                  f"{type(error).__name__}: {error}")))
    answer.write(data)
    answer.close()


if __name__ == "__main__":
    _main()
