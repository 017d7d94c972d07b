"""The generated speech-commands set: the 12-class keyword spotting task spoken by espeak-ng.

Every clip is one of 10 keywords, an unknown word or silence, spoken by an espeak-ng
language voice (its accent) with a voice variant (m1..m8, f1..f5, klatt, whisper, croak,
named voices), a random rate, pitch, pitch range and amplitude, placed at a random point of
a 1 s, 16 kHz clip with its edges jittered, over white, pink, brown or babble (6 to 9
talkers) noise at -5..20 dB SNR. Train, val and test use disjoint accents AND disjoint
variants, so a test speaker is new in both respects.

The cache stores the trimmed words (16 kHz int16) and each clip's parameters; a clip is mixed
on demand (`edgekd.data.speech_mix.mix`), so training can draw fresh noise every epoch while
val and test stay fixed. Every array is a pure function of (size, seed, espeak-ng version):
clips are made in fixed chunks, each in a fresh process (espeak-ng carries state from word to
word), from per-clip seeds, whatever the number of processes.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekd.atomic import atomic_file
from edgekd.data import speech_mix
from edgekd.data.speech_commands import (CLIP_SAMPLES, KEYWORDS, LABELS, SAMPLE_RATE, SPLITS,
                                         ClipSet, ClipSplit)
from edgekd.errors import EdgeKDError

FORMAT = 1  # bump when the generator changes what a (size, seed) produces
SIZES = {  # clips per split; babble bank: tracks per split x seconds per track
    "tiny": {"train": 36, "val": 24, "test": 24, "babble": (1, 1.0)},  # the test suite's
    "small": {"train": 480, "val": 120, "test": 120, "babble": (1, 2.0)},
    "full": {"train": 120_000, "val": 15_000, "test": 30_000, "babble": (16, 12.0)},
}
CHUNK = 2000  # clips per fresh espeak-ng process (fixed: results must not depend on --jobs);
# a process start costs about 1 s of CPU (numpy, scipy), 2000 clips about 8
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house",
                 "marvin", "nine", "one", "seven", "sheila", "six", "three", "tree", "two",
                 "wow", "zero", "backward", "forward", "follow", "learn", "visual")
BABBLE_WORDS = ("the", "and", "they", "would", "there", "people", "morning", "water", "table",
                "window", "number", "little", "yellow", "coffee", "market", "river", "paper",
                "music", "evening", "garden", "letter", "answer", "minute", "travel", "kitchen",
                "problem", "because", "always", "together", "maybe", "children", "weather")
SPLIT_FRACTIONS = {"test": 0.2, "val": 0.1}  # of the accents and of the variants; rest trains
BABBLE_TALKERS = (6, 9)  # inclusive range of talkers summed per babble track
_MAX_WORD_SECONDS = 0.8  # a voice taking longer for a keyword at rate 175 spells letters
_EDGE_JITTER = SAMPLE_RATE // 50  # +-20 ms on each edge of the trimmed word
_TRIM_FRACTION = 0.01  # a word starts and ends where it first/last exceeds 1 % of its peak


def cache_root() -> Path:
    """``$EDGEKD_CACHE/kws`` (default ``~/.cache/edgekd/kws``, following XDG_CACHE_HOME);
    with EDGEKD_CACHE=off, a temporary directory of this process."""
    root = os.environ.get("EDGEKD_CACHE")
    if root == "off":
        return Path(tempfile.gettempdir()) / f"edgekd-kws-{os.getpid()}"
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"), "edgekd")
    return Path(root) / "kws"


def default_dir(size: str, seed: int) -> Path:
    return cache_root() / f"{size}-seed{seed}"


# ---------------------------------------------------------------- building (parent side)

def build(out: str | Path | None = None, size: str = "small", seed: int = 0, jobs: int = 2,
          progress: bool = True) -> Path:
    """Generate the set into `out` (default: the cache) unless it is already there; returns
    the directory. Runs `jobs` worker processes under nice."""
    if size not in SIZES:
        raise EdgeKDError(f"--size {size}: unknown; choose from {', '.join(SIZES)}")
    out = Path(out) if out is not None else default_dir(size, seed)
    if (out / "manifest.json").is_file():
        manifest = json.loads((out / "manifest.json").read_text())
        if manifest.get("format") == FORMAT and manifest["size"] == size and manifest["seed"] == seed:
            return out
        raise EdgeKDError(f"{out}: holds a different kws set (size {manifest.get('size')}, "
                          f"seed {manifest.get('seed')}); choose another --out")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EdgeKDError(f"{out}: exists and is not a kws set; choose a new or empty --out")
    from edgekd.data import espeak

    started = time.monotonic()
    context = multiprocessing.get_context("spawn")  # no inherited espeak or torch state
    accents, variants = _voice_inventory(context)
    plan = _assign_groups(accents, variants, seed)
    spec = SIZES[size]
    tasks = [("babble", seed, plan, *spec["babble"])]
    for split in SPLITS:
        tasks += [("clips", seed, split, plan[split], start, min(start + CHUNK, spec[split]))
                  for start in range(0, spec[split], CHUNK)]
    total = sum(spec[s] for s in SPLITS)
    results: dict[tuple, dict] = {}
    done = 0
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=_mkdir(out.parent)))
    try:
        with context.Pool(max(1, jobs), initializer=_be_nice, maxtasksperchild=1) as pool:
            for key, result in pool.imap_unordered(_run_task, tasks):
                results[key] = result
                done += len(result["label"]) if "label" in result else 0
                if progress:
                    rate = done / max(time.monotonic() - started, 1e-9)
                    print(f"\rkws {size}: {done}/{total} clips ({rate:.0f}/s)", end="",
                          file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
        for split in SPLITS:
            chunks = [results[("clips", split, start)] for start in range(0, spec[split], CHUNK)]
            _write_split(staging / split, chunks, results[("babble",)][split])
        seconds = time.monotonic() - started
        manifest = {"format": FORMAT, "size": size, "seed": seed, "espeak_ng": espeak.version(),
                    "labels": list(LABELS), "clips": {s: spec[s] for s in SPLITS},
                    "accents": {s: plan[s]["voices"] for s in SPLITS},
                    "variants": {s: plan[s]["variants"] for s in SPLITS}}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        (staging / "build.json").write_text(json.dumps(
            {"seconds": round(seconds, 2), "clips_per_second": round(total / seconds, 1),
             "jobs": jobs, "bytes": _size_of(staging)}, indent=1) + "\n")
        if out.exists():
            out.rmdir()  # empty, checked above
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _be_nice() -> None:
    os.nice(10)


def _voice_inventory(context) -> tuple[list[list[str]], list[str]]:
    """The usable accents and variants of this espeak-ng, probed once per version and cached."""
    from edgekd.data import espeak

    cached = cache_root() / f"voices-espeak-ng-{espeak.version()}.json"
    if cached.is_file():
        inventory = json.loads(cached.read_text())
        return inventory["accents"], inventory["variants"]
    voices = [(v.language, v.file) for v in espeak.list_voices()]
    with context.Pool(1) as pool:
        accents, variants = pool.apply(_usable_voices, (voices, espeak.list_variants()))
    with atomic_file(cached) as stream:  # builds running side by side may read it
        stream.write((json.dumps({"accents": accents, "variants": variants}) + "\n").encode())
    return accents, variants


def _assign_groups(accents: list[list[str]], variants: list[str], seed: int) -> dict[str, dict]:
    """Disjoint accents and disjoint variants per split, shuffled by the seed."""
    rng = np.random.default_rng([seed, 0xACC])

    def deal(items: list) -> dict[str, list]:
        order = [items[i] for i in rng.permutation(len(items))]
        n_test = max(1, round(len(order) * SPLIT_FRACTIONS["test"]))
        n_val = max(1, round(len(order) * SPLIT_FRACTIONS["val"]))
        return {"test": order[:n_test], "val": order[n_test:n_test + n_val],
                "train": order[n_test + n_val:]}

    by_accent, by_variant = deal(accents), deal(variants)
    return {s: {"voices": by_accent[s], "variants": by_variant[s]} for s in SPLITS}


def _write_split(directory: Path, chunks: list[dict], babble: dict) -> None:
    directory.mkdir(parents=True)
    words = [w for chunk in chunks for w in chunk.pop("speech")]
    lengths = np.array([len(w) for w in words], np.int64)
    arrays = {"speech": np.concatenate(words) if words else np.zeros(0, np.int16),
              "starts": np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
              "lengths": lengths, **babble}
    for key in chunks[0]:
        arrays[key] = np.concatenate([chunk[key] for chunk in chunks])
    for key, value in arrays.items():
        np.save(directory / f"{key}.npy", value, allow_pickle=False)


# ---------------------------------------------------------------- workers (fresh processes)

def _run_task(task: tuple):
    if task[0] == "babble":
        _, seed, plan, tracks, seconds = task
        return ("babble",), {s: _babble_bank(seed, s, plan[s], tracks, seconds) for s in SPLITS}
    _, seed, split, group, start, stop = task
    return ("clips", split, start), _make_clips(seed, split, group, start, stop)


def _usable_voices(voices: list[tuple[str, str]], variants: list[str]):
    """Accents that speak the keywords as words (not letter by letter), and variants that load."""
    from edgekd.data.espeak import SAMPLE_RATE as ESPEAK_RATE
    from edgekd.data.espeak import Synthesizer

    synth = Synthesizer()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # voices without a full dictionary complain
    accents = []
    for language, file in voices:
        durations = [len(synth.speak(w, file)) / ESPEAK_RATE for w in KEYWORDS]
        if min(durations) > 0 and max(durations) <= _MAX_WORD_SECONDS:
            accents.append([language, file])
    usable = [""] + [v for v in variants if len(synth.speak("yes", "gmw/en", v))]
    return accents, usable


class _Speaker:
    """espeak-ng words resampled to 16 kHz and trimmed to where they sound."""

    def __init__(self) -> None:
        from edgekd.data.espeak import Synthesizer

        self.synth = Synthesizer()

    def word(self, rng: np.random.Generator, text: str, voice: str, variant: str) -> np.ndarray:
        from scipy.signal import resample_poly

        raw = self.synth.speak(text, voice, variant, rate=int(rng.integers(110, 261)),
                               pitch=int(rng.integers(15, 86)), pitch_range=int(rng.integers(20, 81)),
                               amplitude=int(rng.integers(50, 181)), seed=int(rng.integers(2 ** 31)))
        audio = resample_poly(raw.astype(np.float64), 320, 441)  # 22,050 -> 16,000 Hz
        loud = np.flatnonzero(np.abs(audio) > _TRIM_FRACTION * max(np.abs(audio).max(initial=0), 1))
        if len(loud) == 0:
            return np.zeros(0, np.int16)
        start = max(0, loud[0] + int(rng.integers(-_EDGE_JITTER, _EDGE_JITTER + 1)))
        stop = min(len(audio), loud[-1] + 1 + int(rng.integers(-_EDGE_JITTER, _EDGE_JITTER + 1)))
        return np.clip(np.rint(audio[start:max(stop, start + 1)]), -32768, 32767).astype(np.int16)


def _make_clips(seed: int, split: str, group: dict, start: int, stop: int) -> dict:
    speaker = _Speaker()
    rows = {k: [] for k in ("label", "word", "voice", "variant", "position", "noise_kind",
                            "snr_db", "level_dbfs", "noise_seed")}
    speech = []
    for index in range(start, stop):
        rng = np.random.default_rng([seed, SPLITS.index(split), index])
        label = index % len(LABELS)
        word = "" if label == 0 else str(rng.choice(UNKNOWN_WORDS)) if label == 1 else KEYWORDS[label - 2]
        language, voice = group["voices"][rng.integers(len(group["voices"]))]
        variant = group["variants"][rng.integers(len(group["variants"]))]
        audio = speaker.word(rng, word, voice, variant) if word else np.zeros(0, np.int16)
        audio = audio[:CLIP_SAMPLES]
        speech.append(audio)
        position, kind, snr, level = _draw_mix(rng, len(audio))
        for key, value in (("label", label), ("word", word), ("voice", language),
                           ("variant", variant), ("position", position), ("noise_kind", kind),
                           ("snr_db", snr), ("level_dbfs", level),
                           ("noise_seed", int(rng.integers(2 ** 63)))):
            rows[key].append(value)
    arrays = {"speech": speech}
    dtypes = {"label": np.int64, "position": np.int64, "noise_kind": np.int64, "snr_db": np.float64,
              "level_dbfs": np.float64, "noise_seed": np.uint64}
    for key, values in rows.items():
        arrays[key] = np.asarray(values, dtypes.get(key, np.str_))
    return arrays


def _draw_mix(rng: np.random.Generator, length: int) -> tuple[int, int, float, float]:
    """Where the word sits, which noise, at what SNR and overall level."""
    position = int(rng.integers(0, CLIP_SAMPLES - length + 1))
    kind = int(rng.integers(len(speech_mix.NOISE_KINDS)))
    snr = float(speech_mix.SNR_DB[rng.integers(len(speech_mix.SNR_DB))])
    level = float(rng.uniform(-35.0, -12.0) if length else rng.uniform(-60.0, -25.0))
    return position, kind, snr, level


def _babble_bank(seed: int, split: str, group: dict, tracks: int, seconds: float) -> dict:
    """`tracks` babble recordings (`babble`), each of 6-9 talkers (`babble_talkers`) of this
    split's voices saying filler words."""
    speaker = _Speaker()
    n = int(seconds * SAMPLE_RATE)
    bank = np.zeros((tracks, n), np.int16)
    talkers = np.zeros(tracks, np.int64)
    for t in range(tracks):
        rng = np.random.default_rng([seed, SPLITS.index(split), 1 << 40, t])
        mixture = np.zeros(n)
        talkers[t] = rng.integers(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1)
        for _ in range(talkers[t]):
            _, voice = group["voices"][rng.integers(len(group["voices"]))]
            variant = group["variants"][rng.integers(len(group["variants"]))]
            talk = np.zeros(n)
            at = int(rng.integers(0, SAMPLE_RATE // 2))
            while at < n:
                word = speaker.word(rng, str(rng.choice(BABBLE_WORDS)), voice, variant)
                piece = word[:n - at].astype(np.float64)
                talk[at:at + len(piece)] = piece
                at += len(word) + int(rng.integers(0, SAMPLE_RATE * 3 // 20))  # 0-150 ms pause
            mixture += talk / max(np.sqrt(np.mean(talk ** 2)), 1e-12)
        bank[t] = np.clip(np.rint(mixture / np.sqrt(np.mean(mixture ** 2)) * 3000), -32768, 32767)
    return {"babble": bank, "babble_talkers": talkers}


# ---------------------------------------------------------------- reading the cache

def load_generated(directory: str | Path) -> ClipSet:
    """The cached set as ClipSplits; clips are mixed on demand (epoch 0: the stored
    placement and noise; epoch e > 0: fresh ones drawn from the clip's seed and e)."""
    directory = Path(directory)
    if not (directory / "manifest.json").is_file():
        raise EdgeKDError(f"{directory}: no manifest.json; build it with `edgekd data kws --out {directory}`")
    manifest = json.loads((directory / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise EdgeKDError(f"{directory}: kws format {manifest.get('format')}, this edgekd reads "
                          f"{FORMAT}; rebuild it")
    splits = {s: _generated_split(directory / s) for s in SPLITS}
    return ClipSet(f"kws-{manifest['size']}-seed{manifest['seed']}", splits["train"], splits["val"],
                   splits["test"])


@dataclass
class _StoredSplit:
    arrays: dict

    def clip(self, i: int, epoch: int) -> np.ndarray:
        a = self.arrays
        word = a["speech"][a["starts"][i]:a["starts"][i] + a["lengths"][i]]
        if epoch == 0:
            position, kind, snr, level = (int(a["position"][i]), int(a["noise_kind"][i]),
                                          float(a["snr_db"][i]), float(a["level_dbfs"][i]))
            rng = np.random.default_rng([int(a["noise_seed"][i])])
        else:
            rng = np.random.default_rng([int(a["noise_seed"][i]), epoch])
            position, kind, snr, level = _draw_mix(rng, len(word))
        noise = speech_mix.noise_clip(rng, speech_mix.NOISE_KINDS[kind], a["babble"])
        return speech_mix.mix(word, position, noise, snr, level)


def _generated_split(directory: Path) -> ClipSplit:
    arrays = {p.stem: np.load(p, mmap_mode="r", allow_pickle=False) for p in directory.glob("*.npy")}
    stored = _StoredSplit(arrays)
    speakers = np.char.add(np.char.add(arrays["voice"].astype(str), "+"), arrays["variant"].astype(str))

    def read(idx: np.ndarray, epoch: int) -> np.ndarray:
        out = np.zeros((len(idx), CLIP_SAMPLES), np.int16)
        for row, i in enumerate(idx):
            out[row] = stored.clip(int(i), epoch)
        return out

    return ClipSplit(np.array(arrays["label"], np.int64), speakers, read)  # a writable copy


# ---------------------------------------------------------------- export as Speech Commands

def export_wavs(directory: str | Path, out: str | Path) -> Path:
    """Write a generated set in the Speech Commands layout (a folder per spoken word, the two
    lists, silence clips as `_background_noise_/SPLIT_silence.wav`), for listening (sox's
    `play`) and for tools that read that layout. Clips are the stored epoch-0 mixes."""
    from edgekd.data.speech_commands import BACKGROUND_DIR, write_wav

    directory, out = Path(directory), Path(out)
    if out.exists() and any(out.iterdir()):
        raise EdgeKDError(f"{out}: exists and is not empty; choose a new directory for the WAV files")
    clips = load_generated(directory)
    lists = {"val": [], "test": []}
    (out / BACKGROUND_DIR).mkdir(parents=True)
    for split_name in SPLITS:
        split = clips.split(split_name)
        words = np.load(directory / split_name / "word.npy")
        audio = split.audio()
        silence = [audio[i] for i in range(len(split)) if not words[i]]
        if silence:
            write_wav(out / BACKGROUND_DIR / f"{split_name}_silence.wav", np.concatenate(silence))
        for i in np.flatnonzero(words != ""):
            speaker = hashlib.sha256(str(split.speakers[i]).encode()).hexdigest()[:8]
            rel = f"{words[i]}/{speaker}_nohash_{split_name}{i}.wav"
            (out / words[i]).mkdir(exist_ok=True)
            write_wav(out / rel, audio[i])
            if split_name in lists:
                lists[split_name].append(rel)
    (out / "validation_list.txt").write_text("".join(f"{r}\n" for r in lists["val"]))
    (out / "testing_list.txt").write_text("".join(f"{r}\n" for r in lists["test"]))
    return out

