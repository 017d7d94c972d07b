"""Exit codes of the `edgekd` command (docs/cli.md): 0 ok, 1 verification mismatch, 2 usage
or input error, 3 missing tool or dependency, 4 internal error; every failure one line on
stderr, a traceback only with --debug."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgekd
from edgekd import cli
from edgekd.errors import MissingDependencyError, VerificationError
from edgekd.frontends import save_model
from edgekd.resources import BOARDS_DIR
from edgekd.verify.host import VerifyResult
from tests.codegen.graphs import small_cnn

STUDENT = "edgekd.zoo:digits_student"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "small.tflite"
    save_model(small_cnn(seed=3), path)
    return path


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse: usage errors and --version
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, expected_code: int, *fragments: str) -> None:
    assert code == expected_code, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


# 0: ok ---------------------------------------------------------------------------------------

def test_version_and_python_dash_m(tmp_path):
    result = subprocess.run([sys.executable, "-m", "edgekd", "--version"], capture_output=True,
                            text=True, cwd=Path(edgekd.__file__).parents[1])
    assert result.returncode == 0
    assert result.stdout == f"edgekd {edgekd.__version__}\n"


def test_ok_is_0(capsys, model):
    code, out, err = run_cli(capsys, "inspect", model)
    assert code == 0 and err == "" and "CONV_2D" in out


# 1: verification found a mismatch ----------------------------------------------------------

def test_a_mismatch_is_1(capsys):
    result = VerifyResult(model="m.tflite", target="host", inputs=3, mismatches=1,
                          bit_exact=False, arena_bytes=0, weights_bytes=0, compared=[])
    assert cli.print_verify_result(result, as_json=True) == 1
    assert cli.describe_failure(VerificationError("m on rv32: the firmware hangs"),
                                "verify")[1] == 1


def test_bit_exact_verify_is_0(capsys, model):
    code, out, _ = run_cli(capsys, "verify", model, "--inputs", 3)
    assert code == 0 and "bit-exact on 3 inputs" in out


# 2: usage or input error -----------------------------------------------------------------

@pytest.mark.parametrize("argv, fragment", [
    (["verify", "{model}", "--inputs", "0"], "--inputs: 0 is below the minimum 1"),
    (["verify", "{model}", "--seed", "-1"], "--seed: -1 is below the minimum 0"),
    (["verify", "{model}", "--seed", str(2**32)], "is not below 2**32"),
    (["verify", "{model}", "--timeout", "inf"], "not a finite number"),
    (["bench", "{model}", "--inputs", "-3"], "below the minimum 1"),
    (["distill", "--student", STUDENT, "--data", "digits", "-o", "x", "--lr", "nan"],
     "--lr: 'nan' is not a finite number"),
    (["distill", "--student", STUDENT, "--data", "digits", "-o", "x", "--epochs", "-1"],
     "--epochs: -1 is below the minimum 1"),
    (["distill", "--student", STUDENT, "--data", "digits", "-o", "x", "--seed", "-1"],
     "--seed: -1"),
    (["distill", "--student", STUDENT, "--data", "digits", "-o", "x", "--alpha", "1.5"],
     "outside [0, 1]"),
    (["distill", "--student", STUDENT, "--data", "digits", "-o", "x", "--temperature", "0"],
     "not above 0"),
    (["quantize", "--model", STUDENT, "--data", "digits", "-o", "q.tflite", "--lr", "-0.001"],
     "not above 0"),
    (["quantize", "--model", STUDENT, "--data", "digits", "-o", "q.tflite", "--epochs", "x"],
     "'x' is not an integer"),
    (["no-such-command"], "invalid choice"),
])
def test_bad_arguments_are_2(capsys, model, argv, fragment):
    code, _, err = run_cli(capsys, *(a.format(model=model) for a in argv))
    assert_one_line_error(code, err, 2, fragment)


@pytest.mark.parametrize("output, fragment", [
    ("/proc/edgekd-out", "cannot write there"),
    ("/dev/null", "exists and is not a directory"),
    ("/dev/null/x/y", "/dev/null is not a directory"),
    ("", "the output path is empty"),
])
def test_unusable_compile_output_is_2(capsys, model, output, fragment):
    code, _, err = run_cli(capsys, "compile", model, "-o", output)
    assert_one_line_error(code, err, 2, fragment)


@pytest.mark.parametrize("command", [["export", "{model}", "-o"],
                                     ["run", "{model}", "-i", "{x}", "-o"]])
def test_unusable_file_output_is_2(capsys, tmp_path, model, command):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 8, 6, 3), np.int8))
    argv = [a.format(model=model, x=x) for a in command]
    code, _, err = run_cli(capsys, *argv, tmp_path)
    assert_one_line_error(code, err, 2, "is a directory")
    code, _, err = run_cli(capsys, *argv, "/proc/out.tflite")
    assert_one_line_error(code, err, 2, "cannot write there")


def test_read_only_folder_is_2(capsys, tmp_path, model):
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    probe = folder / "probe"
    try:
        probe.touch()
        pytest.skip("running as a user who may write anywhere (root)")
    except PermissionError:
        pass
    code, _, err = run_cli(capsys, "compile", model, "-o", folder / "out")
    assert_one_line_error(code, err, 2, "cannot write there", "Permission denied")


def test_empty_input_files_are_2(capsys, tmp_path, model):
    empty = tmp_path / "empty.npy"
    empty.touch()
    code, _, err = run_cli(capsys, "run", model, "-i", empty)
    assert_one_line_error(code, err, 2, "not a .npy array file")
    code, _, err = run_cli(capsys, "verify", model, "--input", empty)
    assert_one_line_error(code, err, 2, "not a .npy array file")


def save_npz(path: Path, x, y) -> Path:
    np.savez(path, x=np.asarray(x, np.float32), y=np.asarray(y, np.int64))
    return path


@pytest.fixture
def datasets(tmp_path) -> dict[str, Path]:
    images = np.random.default_rng(0).random((40, 1, 8, 8))
    labels = np.arange(40) % 10
    nan = images.copy()
    nan[7, 0, 3, 3] = np.nan
    return {
        "empty": save_npz(tmp_path / "empty.npz", np.zeros((0, 1, 8, 8)), np.zeros(0)),
        "nan": save_npz(tmp_path / "nan.npz", nan, labels),
        "inf": save_npz(tmp_path / "inf.npz", np.full_like(images, np.inf), labels),
        "negative": save_npz(tmp_path / "negative.npz", images, labels - 1),
        "flat": save_npz(tmp_path / "flat.npz", np.zeros(40), labels),
        "shape": save_npz(tmp_path / "shape.npz", np.zeros((40, 3, 5, 5)), labels),
    }


@pytest.mark.parametrize("name, fragment", [
    ("empty", "holds no samples"), ("nan", "holds NaN or infinity"),
    ("inf", "holds NaN or infinity"), ("negative", "label -1 is outside"),
    ("flat", "expected [N, ...]"), ("shape", "do not fit the"),
])
@pytest.mark.parametrize("command", ["distill", "quantize"])
def test_bad_training_data_is_2(capsys, tmp_path, datasets, name, fragment, command):
    pytest.importorskip("torch")
    if command == "distill":
        argv = ["distill", "--loss", "ce", "--student", STUDENT, "--epochs", "1",
                "-o", tmp_path / "run"]
    else:
        argv = ["quantize", "--model", STUDENT, "-o", tmp_path / "q.tflite"]
    code, _, err = run_cli(capsys, *argv, "--data", datasets[name])
    assert_one_line_error(code, err, 2, fragment)
    assert not (tmp_path / "run" / "student.pt").exists()


def test_labels_beyond_the_classes_are_2():
    from edgekd.data import Dataset, Split, checked
    from edgekd.errors import EdgeKDError

    x = np.zeros((4, 1, 8, 8), np.float32)
    split = Split(x, np.array([0, 1, 2, 3]))
    with pytest.raises(EdgeKDError, match="label 3 is outside \\[0, 3\\)"):
        checked("mine:data", Dataset("mine", split, split, split, num_classes=3))


@pytest.mark.parametrize("option", ["--student-weights", "--resume"])
def test_empty_pt_is_2(capsys, tmp_path, option):
    pytest.importorskip("torch")
    empty = tmp_path / "empty.pt"
    empty.touch()
    code, _, err = run_cli(capsys, "distill", "--loss", "ce", "--student", STUDENT, "--data",
                           "digits", "--epochs", "1", option, empty, "-o", tmp_path / "run")
    assert_one_line_error(code, err, 2, "empty.pt: not a", "(EOFError)")


def test_failing_user_code_is_2(capsys, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    (tmp_path / "userdata.py").write_text("def load():\n    raise KeyError('no such subject')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run_cli(capsys, "quantize", "--model", STUDENT, "--data", "userdata:load",
                           "-o", tmp_path / "q.tflite")
    assert_one_line_error(code, err, 2, "userdata:load: raised KeyError")


# 3: missing tool or dependency -------------------------------------------------------------

def test_cuda_without_cuda_is_3(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = run_cli(capsys, "distill", "--loss", "ce", "--student", STUDENT, "--data",
                           "digits", "--epochs", "1", "--device", "cuda", "-o", tmp_path / "r")
    assert_one_line_error(code, err, 3, "--device cuda", "use --device cpu")


def test_missing_cross_compiler_is_3(capsys, tmp_path, model):
    board = tmp_path / "mps2-an386"
    shutil.copytree(BOARDS_DIR / "mps2-an386", board)
    toml = board / "board.toml"
    toml.write_text(toml.read_text().replace('cc = "arm-none-eabi-gcc"',
                                             'cc = "edgekd-no-such-gcc"'))
    code, _, err = run_cli(capsys, "verify", model, "--target", toml, "--inputs", 1)
    assert_one_line_error(code, err, 3, "edgekd-no-such-gcc not installed")


def test_missing_extra_names_the_extra():
    error = ModuleNotFoundError("No module named 'torch'", name="torch")
    message, code = cli.describe_failure(error, "quantize")
    assert code == 3
    assert message == ("error: `edgekd quantize` needs the Python package 'torch', which is "
                       "not installed: pip install 'edgekd[train]'")
    assert isinstance(cli.missing_dependency(error), MissingDependencyError)


# 4: internal error -------------------------------------------------------------------------

def test_internal_error_is_4_with_a_traceback_only_with_debug(capsys, monkeypatch, model):
    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "cmd_inspect", broken)  # no real bug is known to provoke
    code, _, err = run_cli(capsys, "inspect", model)
    assert_one_line_error(code, err, 4, "internal error: ZeroDivisionError: a bug", "--debug")
    with pytest.raises(ZeroDivisionError):
        cli.main(["--debug", "inspect", str(model)])


def test_a_module_that_is_not_an_extra_is_an_internal_error():
    error = ModuleNotFoundError("No module named 'edgekd.gone'", name="edgekd.gone")
    assert cli.describe_failure(error, "inspect")[1] == 4


def test_a_broken_installation_is_4(capsys, monkeypatch, tmp_path, model):
    from edgekd import resources

    # A wheel built without setup.py's copy: the package without its data folders.
    monkeypatch.setattr(resources, "_PACKAGE", tmp_path / "site-packages" / "edgekd")
    code, _, err = run_cli(capsys, "boards")
    assert_one_line_error(code, err, 4, "edgekd's data files are missing", "reinstall")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("command", ["run", "verify"])
def test_non_finite_float_inputs_are_2(capsys, tmp_path, value, command):
    from tests.frontends.tflite_models import all_ops_graph

    model = tmp_path / "float_io.tflite"
    save_model(all_ops_graph(), model)  # float input, QUANTIZE inside
    x = np.zeros((1, 9, 6, 3), np.float32)
    x[0, 4, 2, 1] = value
    np.save(tmp_path / "x.npy", x)
    flag = "-i" if command == "run" else "--input"
    code, _, err = run_cli(capsys, command, model, flag, tmp_path / "x.npy")
    assert_one_line_error(code, err, 2, "x.npy: 1 value(s) are NaN or infinite")


def test_every_extra_named_in_a_hint_installs_that_package():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    from edgekd.errors import EXTRAS

    extras = tomllib.loads((Path(edgekd.__file__).parents[1] / "pyproject.toml").read_text())[
        "project"]["optional-dependencies"]
    distributions = {"sklearn": "scikit-learn", "tflite_micro": "tflite-micro"}
    for module, extra in EXTRAS.items():
        wanted = distributions.get(module, module)
        assert any(r.split("=")[0].split(">")[0].strip() == wanted for r in extras[extra]), \
            (module, extra)
