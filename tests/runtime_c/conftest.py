"""The C runtime built once per session with cffi (cached across runs by cffi_build).

With ``EDGEKD_SANITIZE=undefined`` in the environment the runtime is built with that
sanitizer and stops at the first finding (test_sanitized.py runs the kernel tests so).
"""
from __future__ import annotations

import pytest
from .ekd_runtime import RuntimeKernels, host_build_flags

from edgekd.verify.cffi_build import compile_runtime


@pytest.fixture(scope="session")
def runtime() -> RuntimeKernels:
    """The runtime compiled for the host, wrapped for numpy arrays."""
    compile_args, link_args = host_build_flags()
    return RuntimeKernels(*compile_runtime(extra_compile_args=compile_args,
                                           extra_link_args=link_args))
