"""``compile``'s output appears as a whole (edgekd/codegen/render.py, write_files): a
folder holds the previous complete set of files or the new one, never a mix, whenever
the compile stops; a mixed set does not build; stale staging folders go; concurrent
compiles into one place each leave a complete set. Model names stay out of the
runtime's namespace."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekd.codegen import compile_model, generate, write_sources
from edgekd.codegen.render import STAGING_TAG, model_identifier
from edgekd.errors import EdgeKDError
from edgekd.frontends import load_model, save_model
from edgekd.verify.cffi_build import RUNTIME_INCLUDE, RUNTIME_SRC

from .graphs import small_cnn

ROOT = Path(__file__).resolve().parents[2]


def files_of(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("name", ["ekd", "EKD_model", "edgekd", "edgekd_ekd", "Ekd_x"])
def test_names_in_the_runtimes_namespace_are_refused(name):
    with pytest.raises(EdgeKDError, match=f"model name '{name}' is reserved"):
        model_identifier(name)


def test_a_model_file_named_like_the_runtime_is_refused_clearly(tmp_path):
    model = save_model(small_cnn(), tmp_path / "edgekd_ekd.tflite")
    with pytest.raises(EdgeKDError, match="'edgekd_ekd' is reserved.*--name"):
        compile_model(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    compile_model(model, tmp_path / "out", name="ekdemo")  # beside the namespace: fine


def test_generated_guards_are_in_a_namespace_the_runtime_never_uses():
    header = generate(small_cnn(), "net")["net.h"]
    assert "#ifndef EDGEKD_MODEL_NET_H" in header
    runtime = [p for d in (RUNTIME_INCLUDE, RUNTIME_SRC) for p in d.rglob("*.[ch]")]
    assert runtime and not any("EDGEKD_MODEL_" in p.read_text() for p in runtime)


def test_a_mixed_set_of_files_does_not_build(tmp_path):
    first = generate(small_cnn(seed=0), "net")
    second = generate(small_cnn(seed=1), "net")
    (tmp_path / "net.h").write_text(first["net.h"])
    (tmp_path / "net_weights.c").write_text(second["net_weights.c"])
    build = subprocess.run(["cc", "-fsyntax-only", "-I", str(tmp_path), "-I", str(RUNTIME_INCLUDE),
                            str(tmp_path / "net_weights.c")], capture_output=True, text=True)
    assert build.returncode != 0
    assert "come from different edgekd compiles" in build.stderr
    (tmp_path / "net_weights.c").write_text(first["net_weights.c"])
    subprocess.run(["cc", "-fsyntax-only", "-I", str(tmp_path), "-I", str(RUNTIME_INCLUDE),
                    str(tmp_path / "net_weights.c")], check=True)


def test_recompiling_replaces_the_set_and_keeps_other_files(tmp_path):
    out = tmp_path / "net"
    write_sources(small_cnn(seed=0), out, "net")
    second = write_sources(small_cnn(seed=1), out, "net")
    assert files_of(out) == second.files
    (out / "main.c").write_text("int main(void) { return 0; }\n")
    third = write_sources(small_cnn(seed=2), out, "net")
    assert files_of(out) == {**third.files, "main.c": "int main(void) { return 0; }\n"}
    assert [p.name for p in tmp_path.iterdir()] == ["net"]  # no staging left


def test_staging_folders_of_dead_compiles_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".net{STAGING_TAG}{dead.stdout.strip()}.abc"
    stale.mkdir()
    (stale / "net.h").write_text("half")
    live = tmp_path / f".net{STAGING_TAG}{os.getpid()}.xyz"  # a compile still running
    live.mkdir()
    write_sources(small_cnn(), tmp_path / "net", "net")
    assert not stale.exists() and live.exists()


_WRITER = """
import sys
sys.path.insert(0, {root!r})
from tests.codegen.graphs import small_cnn
from edgekd.codegen import write_sources
write_sources(small_cnn(seed=int(sys.argv[1])), sys.argv[2], "net")
"""


def test_concurrent_compiles_into_one_new_folder_each_leave_a_whole_set(tmp_path):
    out = tmp_path / "net"
    script = _WRITER.format(root=str(ROOT))
    runs = [subprocess.Popen([sys.executable, "-c", script, str(seed), str(out)],
                             stderr=subprocess.PIPE, text=True) for seed in range(4)]
    for run in runs:
        assert run.wait() == 0, run.stderr.read()
    sets = [generate(small_cnn(seed=seed), "net") for seed in range(4)]
    assert files_of(out) in sets
    assert [p.name for p in tmp_path.iterdir()] == ["net"]


@pytest.mark.slow
def test_a_compile_killed_anywhere_leaves_a_whole_set(tmp_path):
    """SIGKILL at random points of `edgekd compile` (50 runs, two models by turns into
    one folder): the folder holds the last complete set or the new one, never a mix."""
    models = [save_model(small_cnn(seed=seed), tmp_path / f"m{seed}.tflite") for seed in (0, 1)]
    sets = [generate(load_model(m), "net") for m in models]
    out = tmp_path / "out"
    command = [sys.executable, "-m", "edgekd.cli", "compile", "--name", "net", "-o", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    subprocess.run([*command, str(models[0])], env=env, check=True, capture_output=True)
    duration = time.monotonic() - start
    rng = random.Random(16)
    current, killed = 0, 0
    for run in range(50):
        target = 1 - current
        child = subprocess.Popen([*command, str(models[target])], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.0) * duration)
        child.send_signal(signal.SIGKILL)
        status = child.wait()
        killed += status == -signal.SIGKILL
        found = files_of(out)
        assert found in sets, f"run {run}: a mixed set {sorted(found)}"
        current = sets.index(found)
    assert killed >= 10  # the kills did land inside compiles
