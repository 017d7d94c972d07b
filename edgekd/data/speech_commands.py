"""Keyword spotting data in the Speech Commands layout: the 12 labels, and a loader for a
user's copy of the real data set.

The layout (Warden 2018): one folder per word of 16 kHz mono 16-bit WAV files named
SPEAKER_nohash_N.wav, `validation_list.txt` and `testing_list.txt` naming the files of those
splits (relative paths, one a line; every other file trains), and `_background_noise_/` with
long noise recordings. The 12-class task keeps 10 words, maps every other word to
`_unknown_` and makes `_silence_` clips from the background noise. As in TensorFlow's
speech_commands example, unknown and silence each get about a tenth of a split: as many
clips as the mean keyword class (of those present), so all 12 classes weigh about the same.
"""
from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekd.errors import EdgeKDError

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE, UNKNOWN = "_silence_", "_unknown_"
LABELS = (SILENCE, UNKNOWN) + KEYWORDS  # index = class id
SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE
SPLITS = ("train", "val", "test")
BACKGROUND_DIR = "_background_noise_"
_SILENCE_MAX_VOLUME = 0.1  # TensorFlow's background_volume: silence is quiet noise
_SEED = 59185  # fixes which unknown words and noise windows a user's copy yields


@dataclass
class ClipSplit:
    """One split of 1 s clips: labels, a speaker group per clip, and the clips on demand."""
    labels: np.ndarray  # int64 class ids into LABELS
    speakers: np.ndarray  # str: who spoke (for the generated set: accent/variant)
    _read: object = field(repr=False)  # callable(indices, epoch) -> int16 (n, CLIP_SAMPLES)

    def __len__(self) -> int:
        return len(self.labels)

    def audio(self, indices=None, epoch: int = 0) -> np.ndarray:
        """int16 clips (n x 16000); `epoch` varies the noise where a source draws it fresh."""
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, np.int64).reshape(-1)
        return self._read(idx, epoch)


@dataclass
class ClipSet:
    name: str
    train: ClipSplit
    val: ClipSplit
    test: ClipSplit
    labels: tuple[str, ...] = LABELS

    def split(self, name: str) -> ClipSplit:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def read_wav(path: Path) -> np.ndarray:
    """A 16 kHz mono 16-bit PCM WAV as int16 samples."""
    try:
        with wave.open(str(path), "rb") as f:
            rate, channels, width = f.getframerate(), f.getnchannels(), f.getsampwidth()
            frames = f.readframes(f.getnframes())
    except (wave.Error, EOFError, OSError) as e:
        raise EdgeKDError(f"{path}: not a readable WAV file ({e})") from None
    if (rate, channels, width) != (SAMPLE_RATE, 1, 2):
        raise EdgeKDError(f"{path}: {rate} Hz, {channels} channel(s), {8 * width}-bit; "
                          f"expected {SAMPLE_RATE} Hz mono 16-bit PCM")
    return np.frombuffer(frames, "<i2").astype(np.int16)


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes(np.asarray(samples, "<i2").tobytes())


def fit_clip(samples: np.ndarray) -> np.ndarray:
    """Pad with zeros at the end, or cut, to exactly 1 s."""
    out = np.zeros(CLIP_SAMPLES, np.int16)
    out[:min(len(samples), CLIP_SAMPLES)] = samples[:CLIP_SAMPLES]
    return out


def is_speech_commands_dir(path: Path) -> bool:
    return path.is_dir() and (path / "testing_list.txt").is_file()


def load_speech_commands(root: str | Path) -> ClipSet:
    """The 12-class task from a Speech Commands folder (v1 or v2)."""
    root = Path(root)
    if not root.is_dir():
        raise EdgeKDError(f"{root}: no such directory")
    for listing in ("validation_list.txt", "testing_list.txt"):
        if not (root / listing).is_file():
            raise EdgeKDError(f"{root}: no {listing}; not a Speech Commands folder")
    held_out = {name: _read_list(root / listing)
                for name, listing in (("val", "validation_list.txt"), ("test", "testing_list.txt"))}
    files = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.wav")
                   if p.parent.name != BACKGROUND_DIR)
    if not files:
        raise EdgeKDError(f"{root}: no word folders with .wav files")
    for name, listed in held_out.items():
        missing = sorted(listed - set(files))
        if missing:
            raise EdgeKDError(f"{root}: {name} list names {missing[0]}, which does not exist")
    by_split = {"train": [], "val": [], "test": []}
    for rel in files:
        split = "val" if rel in held_out["val"] else "test" if rel in held_out["test"] else "train"
        by_split[split].append(rel)
    noise = [read_wav(p) for p in sorted((root / BACKGROUND_DIR).glob("*.wav"))]
    rng = np.random.default_rng(_SEED)
    splits = {name: _real_split(root, rels, noise, rng) for name, rels in by_split.items()}
    return ClipSet(f"speech-commands:{root}", splits["train"], splits["val"], splits["test"])


def _read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _real_split(root: Path, rels: list[str], noise: list[np.ndarray],
                rng: np.random.Generator) -> ClipSplit:
    words = [rel.split("/")[0] for rel in rels]
    known = [i for i, w in enumerate(words) if w in KEYWORDS]
    unknown = [i for i, w in enumerate(words) if w not in KEYWORDS]
    present = {words[i] for i in known}
    share = max(1, round(len(known) / len(present))) if known else len(unknown)
    unknown = sorted(rng.permutation(unknown)[:share].tolist())
    chosen = known + unknown
    chosen.sort()
    paths = [root / rels[i] for i in chosen]
    labels = [LABELS.index(words[i]) if words[i] in KEYWORDS else 1 for i in chosen]
    speakers = [rels[i].split("/")[1].split("_nohash_")[0] for i in chosen]
    silence = _silence_clips(noise, share if chosen else 0, rng)
    labels += [0] * len(silence)
    speakers += ["_noise_"] * len(silence)

    def read(idx: np.ndarray, epoch: int) -> np.ndarray:
        return np.stack([fit_clip(read_wav(paths[i])) if i < len(paths) else silence[i - len(paths)]
                         for i in idx]) if len(idx) else np.zeros((0, CLIP_SAMPLES), np.int16)

    return ClipSplit(np.asarray(labels, np.int64), np.asarray(speakers), read)


def _silence_clips(noise: list[np.ndarray], count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random 1 s windows of the background recordings at a random low volume (digital
    silence when a copy has no recordings)."""
    usable = [n for n in noise if len(n) >= CLIP_SAMPLES]
    clips = []
    for _ in range(count):
        if not usable:
            clips.append(np.zeros(CLIP_SAMPLES, np.int16))
            continue
        source = usable[rng.integers(len(usable))]
        start = rng.integers(0, len(source) - CLIP_SAMPLES + 1)
        volume = rng.uniform(0.0, _SILENCE_MAX_VOLUME)
        clips.append(np.rint(source[start:start + CLIP_SAMPLES] * volume).astype(np.int16))
    return clips
