"""Keyword spotting data for `--data`: clips through the fixed-point front end.

Specs: `kws` (the generated set, full size, seed 0), `kws-small` (720 clips, for tests and
quick runs), a directory holding a generated set (its manifest.json), or a directory in the
Speech Commands layout (a user's copy of the real data set). Inputs are the int8 features
of edgekd.audio.frontend as the network takes them, N x 1 x 49 x 40 float32 equal to
q * FEATURE_SCALE, so a model quantized with input scale 1/8 and zero point 0 reads the
front end's bytes unchanged. Features are computed once per split and cached beside the
clips (generated sets) or in the cache (user copies).
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from edgekd.data.speech_commands import SPLITS, ClipSet, ClipSplit, is_speech_commands_dir, \
    load_speech_commands
from edgekd.errors import EdgeKDError

Featurizer = Callable[[np.ndarray], np.ndarray]  # int16 (n, samples) -> int8 (n, frames, channels)

GENERATED = {"kws": "full", "kws-small": "small"}
_BATCH = 500  # clips per front-end call: bounded memory for the full set


def is_kws_spec(spec: str) -> bool:
    return spec in GENERATED or Path(spec).is_dir()


def open_clips(spec: str) -> tuple[ClipSet, Path]:
    """The clips a spec names and the directory their features are cached in."""
    from edgekd.data import speech_synth

    if spec in GENERATED:
        directory = speech_synth.build(size=GENERATED[spec])
        return speech_synth.load_generated(directory), directory / "features"
    path = Path(spec)
    if (path / "manifest.json").is_file():
        return speech_synth.load_generated(path), path / "features"
    if is_speech_commands_dir(path):
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        return load_speech_commands(path), speech_synth.cache_root() / "speech-commands" / key
    raise EdgeKDError(f"{spec}: a directory, but neither a generated kws set (manifest.json) "
                      "nor Speech Commands (testing_list.txt)")


def frontend_key() -> str:
    """Changes whenever the front end's definition does."""
    from edgekd.audio import frontend

    return hashlib.sha256(Path(frontend.__file__).read_bytes()).hexdigest()[:12]


def split_features(split: ClipSplit, cache: Path | None, what: str,
                   featurize: Featurizer | None = None) -> np.ndarray:
    """int8 features (N, frames, channels) of a split's clips (epoch 0), cached as .npy.
    `featurize` defaults to the numpy spec; edgekd.verify.audio_frontend.fast_features
    gives the same bytes faster."""
    from edgekd.audio import frontend

    featurize = featurize or frontend.features
    path = cache / f"{what}-{frontend_key()}.npy" if cache is not None else None
    if path is not None and path.is_file():
        return np.load(path)
    out = []
    for start in range(0, len(split), _BATCH):
        out.append(featurize(split.audio(np.arange(start, min(start + _BATCH, len(split))))))
        print(f"\rfeatures {what}: {start + len(out[-1])}/{len(split)}", end="", file=sys.stderr,
              flush=True)
    print(file=sys.stderr)
    features = np.concatenate(out) if out else np.zeros((0, 49, frontend.MEL_CHANNELS), np.int8)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp.npy")
        np.save(temporary, features)
        temporary.replace(path)
    return features


def load_kws(spec: str, featurize: Featurizer | None = None
             ) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:
    """(name, [(x, y) of train, val, test]): x float32 N x 1 x frames x channels."""
    from edgekd.audio import frontend

    clips, cache = open_clips(spec)
    splits = []
    for name in SPLITS:
        split = clips.split(name)
        q = split_features(split, cache, name, featurize)
        splits.append(((q.astype(np.float32) * frontend.FEATURE_SCALE)[:, None], split.labels))
    return clips.name, splits
