"""The kernel tests again, with the runtime built under UndefinedBehaviorSanitizer.

The kernels claim no undefined behaviour for any argument values they accept (wrapping
sums, shifts of negative values and float conversions are all written in defined forms).
Here every hypothesis example of the kernel tests runs sanitized; the first finding aborts
the child pytest and fails this test with the sanitizer's report.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from .ekd_runtime import SANITIZE_ENV

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_kernels_have_no_undefined_behaviour():
    if os.environ.get(SANITIZE_ENV):
        pytest.skip("already the sanitized run")  # the child pytest must not recurse
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    env = {**os.environ, SANITIZE_ENV: "undefined",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(HERE),
         "-k", "not portability"],
        env=env, capture_output=True, text=True, timeout=1200)
    report = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, report
    assert "runtime error" not in result.stderr, report
