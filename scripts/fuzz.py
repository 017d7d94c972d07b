"""`make fuzz`: mutants of every importer's input and random graphs, counted.

    python scripts/fuzz.py [--mutants 10000] [--graphs 1000] [--only tflite,npy,...]

Importers: .tflite, QDQ .onnx, float .onnx (read and quantized with a few calibration
samples), .npy and .npz inputs. Each mutant (bytes flipped, truncated, spliced, random,
header fields rewritten) must read or give an EdgeKDError with a one-line message, within
a time limit. Mutants run in a worker process, so that a crash (a signal) is counted
and the run goes on after it. Random graphs (tests/randgraph.py) must compile and run
bit-exact on the host with the arena poisoned.

Seeded: the same run gives the same cases. Prints one table; exits 1 on any traceback,
crash, hang or mismatch.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECONDS_PER_CASE = 5.0
IMPORTERS = ("tflite", "qdq_onnx", "float_onnx", "npy", "npz")


class _TooSlow(Exception):
    pass


def _expire(signum, frame):
    raise _TooSlow()


# ---- seeds: one valid input per importer --------------------------------------------------

def _seed_bytes(kind: str, folder: Path) -> tuple[bytes, dict]:
    if kind == "tflite":
        from edgekd.frontends.tflite import write_tflite
        from tests.frontends.tflite_models import all_ops_graph

        return write_tflite(all_ops_graph()), {}
    if kind in ("qdq_onnx", "float_onnx"):
        from edgekd.zoo import DigitsCNN
        from tests.frontends.onnx_models import (
            digits, export_torch, quantize_with_onnxruntime, residual_net,
        )

        if kind == "qdq_onnx":
            float_path = export_torch(DigitsCNN(width=4).eval(), folder / "f.onnx")
            return quantize_with_onnxruntime(float_path, folder / "q.onnx", samples=8
                                             ).read_bytes(), {}
        return (export_torch(residual_net(), folder / "r.onnx").read_bytes(),
                {"calib": digits().train.x[:4]})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 1, 8, 8)).astype(np.float32)
    buffer = io.BytesIO()
    if kind == "npy":
        np.save(buffer, x)
    else:
        np.savez(buffer, x=x, y=rng.integers(0, 10, 6))
    return buffer.getvalue(), {}


def _read(kind: str, data: bytes, options: dict, folder: Path):
    """Read one mutant; returns "ok" or "error" (EdgeKDError); raises anything else."""
    from edgekd.errors import EdgeKDError

    try:
        if kind == "tflite":
            from edgekd.frontends.tflite import read_tflite, write_tflite

            write_tflite(read_tflite(data, source_name="fuzz.tflite"))
        elif kind in ("qdq_onnx", "float_onnx"):
            from edgekd.frontends.onnx import read_onnx

            read_onnx(data, source_name="fuzz.onnx", **options).validate()
        elif kind == "npy":
            from edgekd.arrays import load_array

            path = folder / "fuzz.npy"
            path.write_bytes(data)
            load_array(path)
        else:
            from edgekd.data import load_dataset

            path = folder / "fuzz.npz"
            path.write_bytes(data)
            load_dataset(str(path))
    except EdgeKDError as error:
        if "\n" in str(error):
            raise AssertionError(f"a multi-line message: {error!r}") from None
        return "error"
    return "ok"


def _mutant(rng: np.random.Generator, seed: bytes) -> bytes:
    data = bytearray(seed)
    kind = rng.integers(6)
    if kind == 0:  # a few flipped bytes anywhere
        for position in rng.integers(0, len(data), rng.integers(1, 5)):
            data[position] ^= int(rng.integers(1, 256))
    elif kind == 1:  # a flipped byte in the header region (tables, lengths, npy header)
        position = int(rng.integers(0, min(len(data), 400)))
        data[position] ^= int(rng.integers(1, 256))
    elif kind == 2:  # truncated
        data = data[:int(rng.integers(0, len(data)))]
    elif kind == 3:  # a 4-byte field set to an extreme value
        position = int(rng.integers(0, max(1, len(data) - 4)))
        value = int(rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 0x10000]))
        data[position:position + 4] = value.to_bytes(4, "little")
    elif kind == 4:  # a chunk copied over another place
        a, b = rng.integers(0, len(data), 2)
        size = int(rng.integers(1, 64))
        chunk = bytes(data[a:a + size])
        data[b:b + len(chunk)] = chunk
    else:  # random bytes behind the seed's first 8 (magic numbers kept)
        data = data[:8] + bytearray(rng.integers(0, 256, int(rng.integers(0, 4096)),
                                                 dtype=np.uint8))
    return bytes(data)


def worker(kind: str, seed: int, start: int, count: int) -> None:
    """Run mutants start..count-1, one JSON line each to stdout."""
    import tempfile
    import warnings

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="edgekd-fuzz-") as tmp:
        folder = Path(tmp)
        seed_data, options = _seed_bytes(kind, folder)
        signal.signal(signal.SIGALRM, _expire)
        for index in range(start, count):
            rng = np.random.default_rng([seed, index])
            data = _mutant(rng, seed_data) if index else seed_data
            began = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, SECONDS_PER_CASE)
            try:
                outcome = _read(kind, data, options, folder)
            except _TooSlow:
                outcome = "hang"
            except BaseException as error:  # noqa: BLE001 - a traceback is what we count
                outcome = f"traceback {type(error).__name__}: {str(error)[:160]}"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            print(json.dumps([index, outcome, round(time.perf_counter() - began, 3)]),
                  flush=True)


def fuzz_importer(kind: str, count: int, seed: int = 16) -> dict[str, int]:
    """Drive workers over ``count`` mutants, restarting after a crash."""
    counts = {"ok": 0, "error": 0, "traceback": 0, "crash": 0, "hang": 0}
    examples: list[str] = []
    start = 0
    while start < count:
        child = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, str(seed), str(start), str(count)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
        last = start - 1
        for line in child.stdout:
            index, outcome, _ = json.loads(line)
            last = index
            key = outcome.split(" ", 1)[0]
            counts[key] += 1
            if key not in ("ok", "error") and len(examples) < 5:
                examples.append(f"mutant {index}: {outcome}")
        status = child.wait()
        if last + 1 < count:  # the worker died on mutant last + 1
            counts["crash"] += 1
            if len(examples) < 5:
                examples.append(f"mutant {last + 1}: worker died ({status})")
        start = last + 2 if last + 1 < count else count
    counts["examples"] = examples
    return counts


def fuzz_graphs(count: int, first: int = 1000) -> dict[str, int]:
    """Random graphs ``first`` .. ``first + count - 1`` (the test suite runs 0..211)."""
    from edgekd.verify.host import verify_host
    from tests.randgraph import random_graph

    counts = {"bit-exact": 0, "mismatch": 0, "traceback": 0}
    examples: list[str] = []
    for seed in range(first, first + count):
        try:
            result = verify_host(random_graph(seed), inputs=3, seed=seed, tflm=False)
            key = "bit-exact" if result.bit_exact else "mismatch"
            detail = result.summary().replace("\n", "; ")
        except Exception as error:  # noqa: BLE001
            key, detail = "traceback", f"{type(error).__name__}: {error}"
        counts[key] += 1
        if key != "bit-exact" and len(examples) < 5:
            examples.append(f"graph {seed}: {detail[:300]}")
        if (seed - first + 1) % 50 == 0:
            print(f"  graphs: {seed - first + 1}/{count} {counts}", file=sys.stderr, flush=True)
    counts["examples"] = examples
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mutants", type=int, default=10_000)
    parser.add_argument("--graphs", type=int, default=1_000)
    parser.add_argument("--first-graph", type=int, default=1000,
                        help="seed of the first random graph (the test suite uses 0..211)")
    parser.add_argument("--only", default=",".join((*IMPORTERS, "graphs")))
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, seed, start, count = args.worker
        worker(kind, int(seed), int(start), int(count))
        return 0
    rows, failed = [], False
    for what in args.only.split(","):
        began = time.monotonic()
        if what == "graphs":
            counts = fuzz_graphs(args.graphs, args.first_graph)
            bad = counts["mismatch"] + counts["traceback"]
        else:
            counts = fuzz_importer(what, args.mutants)
            bad = counts["traceback"] + counts["crash"] + counts["hang"]
        failed |= bad > 0
        examples = counts.pop("examples")
        rows.append((what, counts, time.monotonic() - began))
        print(f"{what:<11} {counts}  {time.monotonic() - began:.0f} s", flush=True)
        for example in examples:
            print(f"    {example}", flush=True)
    print("\n| input | cases | outcome | seconds |\n|---|---:|---|---:|")
    for what, counts, seconds in rows:
        print(f"| {what} | {sum(counts.values())} | "
              f"{', '.join(f'{k} {v}' for k, v in counts.items())} | {seconds:.0f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
