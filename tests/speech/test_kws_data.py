"""The generated speech-commands set (deterministic for a seed, speaker-disjoint splits) and
the loader of the real Speech Commands layout, on a small folder written here."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgekd.data import load_dataset
from edgekd.data import speech_mix, speech_synth
from edgekd.data.speech_commands import (CLIP_SAMPLES, LABELS, SPLITS, load_speech_commands,
                                         write_wav)
from edgekd.errors import EdgeKDError

pytestmark = pytest.mark.skipif(subprocess.run(["sh", "-c", "command -v espeak-ng"],
                                               capture_output=True).returncode != 0,
                                reason="espeak-ng not installed (scripts/system-packages.sh)")


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    """The tiny set built twice, with one and with two processes."""
    root = tmp_path_factory.mktemp("kws")
    return (speech_synth.build(root / "one", "tiny", seed=5, jobs=1, progress=False),
            speech_synth.build(root / "two", "tiny", seed=5, jobs=2, progress=False))


def test_same_seed_same_bytes_whatever_the_process_count(tiny_sets):
    one, two = tiny_sets
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file() and p.name != "build.json")
    assert files == sorted(p.relative_to(two) for p in two.rglob("*")
                           if p.is_file() and p.name != "build.json")
    for rel in files:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel
    clips_one = speech_synth.load_generated(one).test.audio()
    assert clips_one.tobytes() == speech_synth.load_generated(two).test.audio().tobytes()


def test_splits_are_disjoint_in_accent_and_variant(tiny_sets):
    manifest = json.loads((tiny_sets[0] / "manifest.json").read_text())
    clips = speech_synth.load_generated(tiny_sets[0])
    for field in ("accents", "variants"):
        groups = {s: {json.dumps(g) for g in manifest[field][s]} for s in SPLITS}
        assert all(groups[s] for s in SPLITS)
        assert not groups["train"] & groups["val"] and not groups["train"] & groups["test"] \
            and not groups["val"] & groups["test"], field
    for split in SPLITS:
        accents = {a[0] for a in manifest["accents"][split]}
        speakers = clips.split(split).speakers
        assert {s.split("+")[0] for s in speakers} <= accents
        assert {s.split("+", 1)[1] for s in speakers} <= set(manifest["variants"][split])


def test_clips_are_one_second_balanced_and_fresh_noise_per_epoch(tiny_sets):
    clips = speech_synth.load_generated(tiny_sets[0])
    train = clips.train
    audio = train.audio()
    assert audio.shape == (len(train), CLIP_SAMPLES) and audio.dtype == np.int16
    assert np.bincount(train.labels, minlength=len(LABELS)).min() == len(train) // len(LABELS)
    assert np.abs(audio.astype(np.int64)).max(axis=1).min() > 0  # no clip is digital silence
    assert set(np.load(tiny_sets[0] / "train" / "snr_db.npy")) <= set(speech_mix.SNR_DB)
    assert np.load(tiny_sets[0] / "train" / "babble_talkers.npy").min() >= 6
    assert train.audio(epoch=0).tobytes() == audio.tobytes()
    assert train.audio(epoch=1).tobytes() != audio.tobytes()


def test_the_seed_decides_the_speakers():
    accents = [[f"a{i}", f"f{i}"] for i in range(20)]
    variants = [f"v{i}" for i in range(20)]
    first = speech_synth._assign_groups(accents, variants, 0)
    assert first == speech_synth._assign_groups(accents, variants, 0)
    assert first != speech_synth._assign_groups(accents, variants, 1)


# ------------------------------------------------------------------ the real layout

WORDS = {"yes": 3, "no": 3, "bed": 4, "marvin": 2}


@pytest.fixture
def speech_commands_dir(tmp_path):
    """A Speech Commands folder in miniature: 4 words (2 unknown), 3 speakers each split,
    a short clip, and one background recording."""
    rng = np.random.default_rng(0)
    root = tmp_path / "speech_commands"
    val, test = [], []
    for word, count in WORDS.items():
        (root / word).mkdir(parents=True)
        for i in range(count):
            for speaker, listing in (("aaaa1111", None), ("bbbb2222", val), ("cccc3333", test)):
                name = f"{word}/{speaker}_nohash_{i}.wav"
                length = 9000 if i == 0 else CLIP_SAMPLES  # real clips are sometimes short
                write_wav(root / name, rng.integers(-3000, 3000, length).astype(np.int16))
                if listing is not None:
                    listing.append(name)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    (root / "_background_noise_").mkdir()
    write_wav(root / "_background_noise_" / "white.wav", rng.integers(-20000, 20000, 40000).astype(np.int16))
    return root


def test_speech_commands_splits_labels_and_silence(speech_commands_dir):
    clips = load_speech_commands(speech_commands_dir)
    for name in SPLITS:
        split = clips.split(name)
        labels = [LABELS[i] for i in split.labels]
        # keywords all kept; unknown and silence get the mean keyword count (3)
        assert labels.count("yes") == 3 and labels.count("no") == 3
        assert labels.count("_unknown_") == 3 and labels.count("_silence_") == 3
        speakers = set(split.speakers) - {"_noise_"}
        assert speakers == {{"train": "aaaa1111", "val": "bbbb2222", "test": "cccc3333"}[name]}
        audio = split.audio()
        assert audio.shape == (len(split), CLIP_SAMPLES)
        silence = audio[split.labels == 0]
        assert np.abs(silence.astype(int)).max() <= 0.1 * 20000 + 1
    short = clips.test.audio([0])[0]  # a 9000-sample clip, zero-padded to 1 s
    assert np.all(short[9000:] == 0) and np.any(short[:9000] != 0)


def test_speech_commands_through_load_dataset(speech_commands_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEKD_CACHE", str(tmp_path / "cache"))
    dataset = load_dataset(str(speech_commands_dir))
    assert dataset.num_classes == 12
    assert dataset.test.x.shape == (12, 1, 49, 40) and dataset.test.x.dtype == np.float32
    again = load_dataset(str(speech_commands_dir))  # from the feature cache
    assert again.train.x.tobytes() == dataset.train.x.tobytes()


def test_a_bad_wav_is_one_line_naming_the_file(speech_commands_dir):
    bad = speech_commands_dir / "yes" / "aaaa1111_nohash_0.wav"
    import wave
    with wave.open(str(bad), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(8000)
        f.writeframes(b"\0\0" * 100)
    clips = load_speech_commands(speech_commands_dir)
    with pytest.raises(EdgeKDError, match=r"aaaa1111_nohash_0.wav: 8000 Hz.*expected 16000 Hz"):
        clips.train.audio()


def test_a_list_naming_a_missing_file_is_an_error(speech_commands_dir):
    (speech_commands_dir / "testing_list.txt").write_text("yes/nobody_nohash_0.wav\n")
    with pytest.raises(EdgeKDError, match="nobody_nohash_0.wav, which does not exist"):
        load_speech_commands(speech_commands_dir)


def test_cli_data_kws_rejects_a_foreign_directory(tmp_path):
    out = tmp_path / "set"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"format": speech_synth.FORMAT, "size": "full",
                                                   "seed": 0}))
    result = subprocess.run([sys.executable, "-m", "edgekd.cli", "data", "kws", "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"edgekd: error: {out}: holds a different kws set (size full, seed 0); choose another --out"]


def test_cli_data_kws_never_writes_over_a_foreign_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = subprocess.run([sys.executable, "-m", "edgekd.cli", "data", "kws", "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "is not a kws set" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_generated_set_exported_as_speech_commands_reads_back(tiny_sets, tmp_path):
    """The WAV export in the Speech Commands layout, read by the real-data loader: the
    keyword clips come back byte for byte, in the same split, with the same label."""
    exported = speech_synth.export_wavs(tiny_sets[0], tmp_path / "wav")
    generated = speech_synth.load_generated(tiny_sets[0])
    real = load_speech_commands(exported)
    for name in SPLITS:
        ours, theirs = generated.split(name), real.split(name)
        keep = ours.labels >= 2  # keywords: the loader keeps them all
        mine = sorted(zip(ours.labels[keep], map(bytes, ours.audio()[keep])))
        keywords = theirs.labels >= 2
        back = sorted(zip(theirs.labels[keywords], map(bytes, theirs.audio()[keywords])))
        assert mine == back, name
