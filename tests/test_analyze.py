"""`edgekd analyze`: per-layer MACs, weight bytes, live arena bytes, kernels, instructions."""
from __future__ import annotations

import json
import shutil

import pytest

from edgekd.analyze import _conditions_that_hold, analyze, energy_figure
from edgekd.cli import main
from edgekd.codegen.render import generate_model
from edgekd.frontends import load_model, save_model
from edgekd.verify.boards import board_names, load_board
from edgekd.verify.target import verify_target
from tests.codegen.graphs import small_cnn
from tests.frontends.tflite_models import all_ops_graph


@pytest.mark.parametrize("graph", [small_cnn(seed=7), all_ops_graph(seed=2)],
                         ids=["small_cnn", "all_ops"])
def test_host_analysis_accounts_for_every_byte(graph):
    generated = generate_model(graph, "m")
    result = analyze(graph, name="m")
    assert result.target == "host" and result.instructions is None
    assert [layer.index for layer in result.layers] == [layer.index for layer in
                                                        generated.layers]
    assert sum(layer.weight_bytes for layer in result.layers) == generated.weights_bytes
    assert result.weights_bytes == generated.weights_bytes
    assert sum(layer.macs for layer in result.layers) == result.macs > 0
    assert max(layer.live_bytes for layer in result.layers) <= result.arena_bytes
    for layer, code in zip(result.layers, generated.layers):
        # without a board: the kernel every other target runs, the chain's last
        assert layer.kernel == (code.calls[-1].kernel if code.calls else code.kernel or "-")


def test_mlperf_weights_add_up(mlperf_path):
    result = analyze(mlperf_path)
    assert result.weights_bytes == sum(layer.weight_bytes for layer in result.layers)
    assert result.weights_bytes == generate_model(load_model(mlperf_path), "x").weights_bytes


@pytest.mark.parametrize("board, dsp, mve", [
    ("mps2-an385", False, False), ("mps2-an386", True, False), ("mps3-an547", True, True),
    ("rv32", False, False),
])
def test_conditions_come_from_the_boards_compiler(board, dsp, mve):
    loaded = load_board(board)
    if loaded.missing_tools():
        pytest.skip(f"{board}: {', '.join(loaded.missing_tools())} missing")
    holds = _conditions_that_hold(loaded, {"EKD_HAVE_DSP", "EKD_HAVE_MVE",
                                           "!EKD_HAVE_MVE && EKD_HAVE_DSP"})
    assert ("EKD_HAVE_DSP" in holds, "EKD_HAVE_MVE" in holds) == (dsp, mve)
    assert ("!EKD_HAVE_MVE && EKD_HAVE_DSP" in holds) == (dsp and not mve)


def test_every_energy_figure_has_a_source():
    for name in board_names():
        figure = energy_figure(load_board(name))
        if figure is not None:
            assert figure[0] > 0 and "datasheet" in figure[1]


def test_cli_json_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    model = tmp_path / "m.tflite"
    save_model(small_cnn(seed=8), model)
    code = main(["analyze", str(model), "--json", "--plot", str(tmp_path / "m.png")])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["target"] == "host" and out["energy"] is None
    assert {"index", "op", "kernel", "macs", "weight_bytes", "live_bytes",
            "instructions"} <= set(out["layers"][0])
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_board_analysis_measures_every_layer(tmp_path):
    board = load_board("mps2-an386")
    if board.missing_tools() or shutil.which("qemu-system-arm") is None:
        pytest.skip("the mps2-an386 tools are not installed")
    graph = small_cnn(seed=9)
    result = analyze(graph, "mps2-an386", name="m")
    assert all(layer.instructions > 0 for layer in result.layers if layer.macs)
    whole = verify_target(graph, "mps2-an386", inputs=1, name="m", progress=None)
    # The layer sum misses only the call overhead and loses one counter tick per layer.
    slack = len(result.layers) * (board.instructions_per_tick + 50) + 500
    assert abs(result.instructions - whole.instructions["mean"]) <= slack
    pj, _ = energy_figure(board)
    assert result.energy.microjoules == pytest.approx(result.instructions * pj / 1e6)
    assert result.weights_bytes == sum(layer.weight_bytes for layer in result.layers)
