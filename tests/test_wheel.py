"""The wheel as a user gets it: built with `pip wheel`, installed into a fresh virtual
environment that cannot see the checkout, and used from another folder.

The environment gets the base dependencies only (no torch, no tflite-micro): they are linked
from this interpreter's site-packages into one folder on its path, so nothing is downloaded.
That is the deployment install `pip install edgekd` gives: inspect, compile, verify on the
host and on a board work; training commands say which extra to install.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from edgekd import __version__ as edgekd_version
from edgekd.frontends import save_model
from edgekd.resources import DATA_FOLDERS
from tests.codegen.test_standalone import two_model_main
from tests.codegen.graphs import small_cnn

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def base_distributions(wheel: Path) -> set[str]:
    """The distributions installing the wheel without extras brings, recursively (found in
    this interpreter's environment)."""
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(next(n for n in archive.namelist()
                                 if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in text.splitlines()
                if line.startswith("Requires-Dist:")]
    seen: set[str] = set()
    pending: list[list[str]] = [requires]
    while pending:
        for text in pending.pop():
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            key = requirement.name.lower().replace("-", "_")
            if key not in seen:
                seen.add(key)
                pending.append(metadata.distribution(requirement.name).requires or [])
    return seen


def link_distributions(names: set[str], folder: Path) -> None:
    """Symlink each distribution's top-level files and its metadata folder into ``folder``."""
    folder.mkdir()
    for name in names:
        dist = metadata.distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        root = Path(dist.locate_file(""))
        for top in tops:
            source = root / top
            if source.exists() and not (folder / top).exists() and top != "__pycache__":
                (folder / top).symlink_to(source)


def run(args, cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=1800)
    if check:
        assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def pip(python: Path, *args, work: Path, env: dict) -> subprocess.CompletedProcess:
    """This interpreter's pip acting on the environment of ``python``."""
    return run([sys.executable, "-m", "pip", "--python", python, *args], work, env)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # --no-build-isolation: build with this environment's setuptools, offline.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(REPO)], check=True, capture_output=True)
    (path,) = out.glob("edgekd-*.whl")
    return path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, wheel):
    """(edgekd executable, python, env, working folder) of a fresh base-only install."""
    root = tmp_path_factory.mktemp("deploy")
    venv = root / "venv"
    # Without pip: the venv's own setuptools would shadow the linked one. This interpreter's
    # pip installs into it (--python).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True,
                               text=True).stdout.strip())
    link_distributions(base_distributions(wheel), root / "deps")
    (site / "base-deps.pth").write_text(f"{root / 'deps'}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(EDGEKD_CACHE=str(root / "cache"), PATH=f"{venv / 'bin'}:{env['PATH']}")
    work = root / "work"
    work.mkdir()
    pip(python, "install", "-q", "--no-deps", "--no-index", wheel, work=work, env=env)
    return venv / "bin" / "edgekd", python, env, work


def test_wheel_carries_the_data_and_the_license(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for folder in DATA_FOLDERS:
        checkout = {p.relative_to(REPO / folder).as_posix() for p in (REPO / folder).rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts}
        packaged = {n.split(f"edgekd/_data/{folder}/", 1)[1] for n in names
                    if n.startswith(f"edgekd/_data/{folder}/")}
        assert packaged == checkout, folder
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_installed_edgekd_is_not_the_checkout(deployment):
    _, python, env, work = deployment
    found = run([python, "-c", "import edgekd, edgekd.resources as r; "
                 "print(edgekd.__file__); print(r.TEMPLATES_DIR)"], work, env).stdout.split()
    for path in found:
        assert not Path(path).is_relative_to(REPO), path
        assert "site-packages" in path
    deps = pip(python, "check", work=work, env=env)
    assert "No broken requirements" in deps.stdout


def test_deployment_install_inspects_compiles_and_verifies(deployment, tmp_path):
    edgekd, _, env, work = deployment
    model = work / "small.tflite"
    save_model(small_cnn(seed=5), model)
    assert "CONV_2D" in run([edgekd, "inspect", model], work, env).stdout
    assert "mps2-an386" in run([edgekd, "boards"], work, env).stdout
    run([edgekd, "compile", model, "-o", "out", "--with-runtime"], work, env)
    assert (work / "out" / "runtime" / "include" / "edgekd" / "ekd.h").is_file()
    host = run([edgekd, "verify", model, "--inputs", "5"], work, env).stdout
    assert "bit-exact on 5 inputs" in host
    assert "tflm: not run (tflite-micro is not installed: pip install 'edgekd[oracle]')" in host
    # QDQ ONNX, written and read back without torch or onnxruntime
    run([edgekd, "export", model, "-o", "small_qdq.onnx"], work, env)
    assert "bit-exact on 3 inputs" in run([edgekd, "verify", "small_qdq.onnx", "--inputs", "3"],
                                          work, env).stdout
    cmake_dir = Path(run([edgekd, "cmake-dir"], work, env).stdout.strip())
    assert (cmake_dir / "edgekdConfig.cmake").is_file() and not cmake_dir.is_relative_to(REPO)
    if shutil.which("cmake"):
        run(["cmake", "-S", work / "out", "-B", tmp_path / "host"], work, env)
        run(["cmake", "--build", tmp_path / "host"], work, env)
        assert (tmp_path / "host" / "libedgekd_small.a").is_file()
        if shutil.which("arm-none-eabi-gcc"):
            run(["cmake", "-S", work / "out", "-B", tmp_path / "arm",
                 f"-DCMAKE_TOOLCHAIN_FILE={cmake_dir / 'arm-none-eabi.cmake'}"], work, env)
            run(["cmake", "--build", tmp_path / "arm"], work, env)
            assert (tmp_path / "arm" / "libedgekd_small.a").is_file()
        app = work / "app"  # find_package(edgekd) from the installed package
        app.mkdir()
        (app / "main.c").write_text(two_model_main(["small"]))
        (app / "CMakeLists.txt").write_text(
            "cmake_minimum_required(VERSION 3.16)\nproject(app C)\n"
            "find_package(edgekd REQUIRED)\nadd_executable(app main.c)\n"
            f"edgekd_add_model(app {work / 'out'})\n")
        run(["cmake", "-S", app, "-B", tmp_path / "app", f"-Dedgekd_DIR={cmake_dir}"], work, env)
        run(["cmake", "--build", tmp_path / "app"], work, env)
        assert run([tmp_path / "app" / "app"], work, env).stdout.count(" ") == 5
    if shutil.which("make") and shutil.which("cc"):
        (work / "Makefile").write_text(
            "include out/model.mk\n"
            "CFLAGS += $(addprefix -I,$(EDGEKD_INCLUDE_DIRS))\n"
            "objects: $(EDGEKD_SOURCES:.c=.o)\n")
        run(["make", "-s", "objects"], work, env)
        assert (work / "out" / "small_weights.o").is_file()


def test_deployment_install_verifies_on_a_board(deployment):
    edgekd, _, env, work = deployment
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm is not installed")
    model = work / "board.tflite"
    save_model(small_cnn(seed=6), model)
    result = run([edgekd, "verify", model, "--target", "mps2-an386", "--inputs", "3"], work, env)
    assert "bit-exact on 3 inputs" in result.stdout
    analysis = json.loads(run([edgekd, "analyze", model, "--target", "mps2-an386", "--json"],
                              work, env).stdout)
    assert analysis["instructions"] > 0 and analysis["energy"]["estimate"] is True


def test_deployment_install_names_the_train_extra(deployment):
    edgekd, python, env, work = deployment
    assert run([python, "-c", "import importlib.util as u; print(u.find_spec('torch'))"],
               work, env).stdout.strip() == "None"
    result = run([edgekd, "quantize", "--model", "edgekd.zoo:digits_student", "--data",
                  "digits", "-o", "q.tflite"], work, env, check=False)
    assert result.returncode == 3
    assert result.stderr == ("edgekd: error: `edgekd quantize` needs the Python package "
                             "'torch', which is not installed: pip install 'edgekd[train]'\n")


def test_python_dash_m_and_version(deployment):
    _, python, env, work = deployment
    out = run([python, "-m", "edgekd", "--version"], work, env).stdout
    assert out == f"edgekd {edgekd_version}\n"
