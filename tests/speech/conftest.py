"""The audio front end compiled for the host with cffi (cached across runs by cffi_build)."""
from __future__ import annotations

import pytest

from edgekd.verify.audio_frontend import HostFrontend


@pytest.fixture(scope="session")
def host_frontend() -> HostFrontend:
    return HostFrontend()
