"""`edgekd analyze`: per-layer MACs, weight bytes, live arena bytes, kernels, instructions."""
from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from edgekd.analyze import _conditions_that_hold, analyze, energy_figure
from edgekd.cli import main
from edgekd.codegen.render import generate_model
from edgekd.frontends import load_model, save_model
from edgekd.ir import Graph, QuantParams
from edgekd.layer_error import layer_errors
from edgekd.verify.boards import board_names, load_board
from edgekd.verify.host import random_inputs
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


@pytest.mark.parametrize("graph", [small_cnn(seed=7), all_ops_graph(seed=2)],
                         ids=["small_cnn", "all_ops"])
def test_each_op_is_close_to_its_float_form(graph):
    errors = layer_errors(graph, random_inputs(graph, 8, seed=1))
    assert {e.op for e in errors} >= {n.op for n in graph.nodes} - {"DEQUANTIZE"}
    for e in errors:
        if e.op == "RESHAPE":
            assert e.sqnr_db is None and e.mse == 0  # no arithmetic: exact
        elif e.sqnr_db is None:  # a max pool on its input's grid selects, never rounds
            assert e.op == "MAX_POOL_2D" and e.mse == 0
        else:  # 8 bits of output: about 40-50 dB when the int8 op is right
            assert e.sqnr_db > 25 and e.cosine > 0.999, e
    # the first op reads the graph input, as the shadow does: the same error both ways
    assert errors[0].accumulated_sqnr_db == errors[0].sqnr_db
    assert all(e.accumulated_sqnr_db is None or e.accumulated_sqnr_db > 20 for e in errors)


def test_a_coarse_layer_is_the_one_that_shows(tmp_path):
    graph = small_cnn(seed=7)
    first = graph.nodes[0].outputs[0]
    tensor = graph.tensor(first)
    coarse = dataclasses.replace(tensor, quant=QuantParams.per_tensor(
        float(tensor.quant.scale[0]) * 16, int(tensor.quant.zero_point[0])))
    changed = Graph(graph.name, {**graph.tensors, first: coarse}, list(graph.nodes),
                    list(graph.inputs), list(graph.outputs)).validate()
    samples = random_inputs(graph, 8, seed=1)
    before = layer_errors(graph, samples)[0].sqnr_db
    after = layer_errors(changed, samples)[0].sqnr_db
    assert before - after > 18  # 16 x coarser steps: 24 dB less, minus clamping effects


def test_cli_prints_the_error_table(tmp_path, capsys):
    model = tmp_path / "m.tflite"
    save_model(small_cnn(seed=8), model)
    assert main(["analyze", str(model), "--error-inputs", "3"]) == 0
    out = capsys.readouterr().out
    assert "int8 against float" in out and "over 3 seeded random inputs" in out
    assert main(["analyze", str(model), "--error-inputs", "0"]) == 0
    assert "int8 against float" not in capsys.readouterr().out


def test_errors_on_a_dataset_laid_out_channels_first(tmp_path):
    import numpy as np

    from edgekd.data import load_dataset
    from edgekd.errors import EdgeKDError

    graph = small_cnn(seed=7)  # input [1, 8, 6, 3]
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "nchw.npz", x=rng.random((40, 3, 8, 6)).astype(np.float32),
             y=np.arange(40) % 5)
    result = analyze(graph, name="m", error_inputs=str(tmp_path / "nchw.npz"))
    test_split = len(load_dataset(str(tmp_path / "nchw.npz")).test)
    assert result.error_inputs == f"{test_split} samples of {tmp_path / 'nchw.npz'}"
    assert result.errors and result.errors[0].sqnr_db > 25
    np.savez(tmp_path / "odd.npz", x=rng.random((40, 4, 8, 6)).astype(np.float32))
    with pytest.raises(EdgeKDError, match="do not fit the model's input"):
        analyze(graph, name="m", error_inputs=str(tmp_path / "odd.npz"))
