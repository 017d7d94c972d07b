"""espeak-ng, the Debian package, as a speech source: its voice and variant inventory and
single-word synthesis through libespeak-ng (ctypes), about a millisecond per word.

The library keeps state between utterances (its wave generator's phase and echo buffer, the
C library's rand()), so a word's samples depend on every word synthesized before it in the
same process. Reproducibility therefore comes from the caller: a fresh process per fixed
batch of words, in a fixed order (edgekd.data.speech_synth), with rand() reseeded per word.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import re
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from edgekd.errors import ToolchainError

SAMPLE_RATE = 22050  # espeak-ng's fixed output rate
_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: espeak_Synth returns when the callback has all samples
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4  # espeak_PARAMETER
_INSTALL_HINT = "install the Debian package espeak-ng (scripts/system-packages.sh does)"


@dataclass(frozen=True)
class Voice:
    language: str  # e.g. en-gb-scotland: the accent
    file: str  # e.g. gmw/en-GB-scotland: what espeak_SetVoiceByName accepts


def _cli(*args: str) -> str:
    if shutil.which("espeak-ng") is None:
        raise ToolchainError(f"espeak-ng: command not found; {_INSTALL_HINT}")
    return subprocess.run(["espeak-ng", *args], check=True, capture_output=True, text=True).stdout


def version() -> str:
    """e.g. 1.51: the generated set depends on it."""
    text = _cli("--version")
    found = re.search(r"(\d+\.\d+[\w.+~-]*)", text)
    return found.group(1) if found else text.strip()


def list_voices() -> list[Voice]:
    """Every language voice (`espeak-ng --voices`), one per language, sorted."""
    voices = {}
    for line in _cli("--voices").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5:
            voices.setdefault(fields[1], Voice(fields[1], fields[4]))
    return [voices[k] for k in sorted(voices)]


def list_variants() -> list[str]:
    """Every voice variant (`espeak-ng --voices=variant`: m1..m8, f1..f5, klatt, whisper, ...)."""
    names = {line.split()[4].removeprefix("!v/")
             for line in _cli("--voices=variant").splitlines()[1:] if len(line.split()) >= 5}
    return sorted(names)


class Synthesizer:
    """One libespeak-ng instance; create one per process (the library is a singleton)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self._lib = ctypes.CDLL(name)
        except OSError:
            raise ToolchainError(f"libespeak-ng: cannot load {name}; {_INSTALL_HINT}") from None
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"))
        self._chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short),
                                         ctypes.c_int, ctypes.c_void_p)
        self._callback = callback_type(self._collect)  # kept alive: the library holds a pointer
        rate = self._lib.espeak_Initialize(_SYNCHRONOUS, 0, None, 0)
        if rate != SAMPLE_RATE:
            raise ToolchainError(f"libespeak-ng: initialization returned {rate}, expected {SAMPLE_RATE} Hz")
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, samples, count, events) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0

    def speak(self, text: str, voice: str, variant: str = "", *, rate: int = 175, pitch: int = 50,
              pitch_range: int = 50, amplitude: int = 100, seed: int = 0) -> np.ndarray:
        """int16 samples at 22,050 Hz; empty when the voice cannot be selected."""
        name = f"{voice}+{variant}" if variant else voice
        if self._lib.espeak_SetVoiceByName(name.encode()) != 0:
            return np.zeros(0, np.int16)
        for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range),
                                 (_VOLUME, amplitude)):
            self._lib.espeak_SetParameter(parameter, int(value), 0)
        self._libc.srand(ctypes.c_uint(seed & 0xFFFFFFFF))
        self._chunks.clear()
        data = text.encode()
        self._lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
