"""The audio front end compiled for the host with cffi (cached across runs by cffi_build)."""
from __future__ import annotations

import pytest

from edgekd.audio.host import HostFrontend


@pytest.fixture(scope="session")
def host_frontend() -> HostFrontend:
    return HostFrontend()
