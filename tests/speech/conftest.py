"""The audio front end compiled for the host with cffi (cached across runs by cffi_build)."""
from __future__ import annotations

import numpy as np
import pytest

from edgekd.audio import frontend
from edgekd.verify.cffi_build import RUNTIME_INCLUDE, RUNTIME_SRC, compile_module, header_cdef

FRONTEND_HEADER = RUNTIME_INCLUDE / "edgekd" / "ekd_audio_frontend.h"
FRONTEND_SOURCE = RUNTIME_SRC / "ekd_audio_frontend.c"


class HostFrontend:
    def __init__(self, ffi, lib) -> None:
        self.ffi, self.lib = ffi, lib

    def features(self, audio: np.ndarray) -> np.ndarray:
        audio = np.ascontiguousarray(audio, np.int16)
        frames = frontend.num_frames(len(audio))
        out = np.zeros((max(frames, 1), frontend.MEL_CHANNELS), np.int8)
        scratch = self.ffi.new("ekd_audio_scratch *")
        got = self.lib.ekd_audio_features(self.ffi.from_buffer("int16_t[]", audio), len(audio),
                                          scratch, self.ffi.from_buffer("int8_t[]", out))
        assert got == frames
        return out[:frames]


@pytest.fixture(scope="session")
def host_frontend() -> HostFrontend:
    ffi, lib = compile_module("ekd_audio_frontend", header_cdef(FRONTEND_HEADER), [FRONTEND_SOURCE],
                              [RUNTIME_INCLUDE], extra_compile_args=["-std=c99", "-O2"],
                              preamble='#include "edgekd/ekd_audio_frontend.h"\n')
    return HostFrontend(ffi, lib)
