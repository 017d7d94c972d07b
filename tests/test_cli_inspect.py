"""`edgekd inspect` and `edgekd run` through edgekd.cli.main."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgekd.cli import main
from edgekd.frontends.tflite import read_tflite, save_tflite
from edgekd.shapes import graph_macs
from tests.frontends.tflite_models import all_ops_graph, fc_keep_dims_graph

EXPECTED_TOTALS = {  # layers, MACs (the README's 2.66 M and 12.5 M, exactly)
    "kws_ref_model.tflite": ("layers: 13", "MACs: 2,656,768 (2.66 M)"),
    "pretrainedResnet_quant.tflite": ("layers: 16", "MACs: 12,501,632 (12.50 M)"),
}


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_table(mlperf_path, capsys):
    code, out, err = _cli(capsys, "inspect", mlperf_path)
    assert code == 0 and err == ""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("#  op"))
    rows = lines[header + 1:header + 1 + len(read_tflite(mlperf_path).nodes)]
    assert rows[0].split()[:2] == ["0", "CONV_2D"]
    assert "RELU" in rows[0] and "per-channel x" in rows[0] and "zp=-128" in rows[0]
    # aligned: the op, MACs and act columns start/end at the same place on every row
    op_column = lines[header].index("op")
    macs_end = lines[header].index("MACs") + len("MACs")
    act_column = lines[header].index("act")
    for row in rows:
        assert row[op_column - 1] == " " and row[op_column] != " ", row
        assert row[macs_end - 1].isdigit() and row[macs_end] == " ", row
        assert row[act_column:].split()[0] in ("NONE", "RELU", "RELU6"), row
    for total in EXPECTED_TOTALS[mlperf_path.name]:
        assert total in lines[-1]


def test_inspect_json(mlperf_path, capsys):
    code, out, _ = _cli(capsys, "inspect", "--json", mlperf_path)
    assert code == 0
    summary = json.loads(out)
    graph = read_tflite(mlperf_path)
    assert summary["totals"]["macs"] == graph_macs(graph)
    assert summary["totals"]["layers"] == len(graph.nodes) == len(summary["layers"])
    weights = {t.name: t for t in graph.tensors.values() if t.is_constant}
    assert summary["totals"]["params"] == sum(t.size for t in weights.values())
    assert summary["totals"]["weight_bytes"] == sum(t.nbytes for t in weights.values())
    first = summary["layers"][0]
    assert first["op"] == "CONV_2D" and first["weight_quant"]["per_channel"]
    assert first["output_shape"] == list(graph.tensor(graph.nodes[0].outputs[0]).shape)
    assert summary["inputs"][0]["dtype"] == "int8"


def test_inspect_float_boundary_model(tmp_path, capsys):
    path = save_tflite(all_ops_graph(), tmp_path / "all_ops.tflite")
    code, out, _ = _cli(capsys, "inspect", path)
    assert code == 0
    assert " input: input  float32 1x9x6x3" in out
    assert "ADD" in out and "1x2x1x16, 1x2x1x16 -> 1x2x1x16" in out
    assert "w s=" in out  # the per-tensor FULLY_CONNECTED weights


@pytest.mark.parametrize("content, message", [
    (bytes(range(256)) * 4, "not a TFLite model"),
    (b"\x10\x00\x00\x00TFL3" + b"\xff" * 200, "corrupted or truncated flatbuffer"),
])
def test_garbage_file_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "garbage.tflite"
    path.write_bytes(content)
    code, out, err = _cli(capsys, "inspect", path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"edgekd: error: {path}: ")
    assert message in err and "Traceback" not in err


def test_missing_file_and_unknown_suffix(tmp_path, capsys):
    code, _, err = _cli(capsys, "inspect", tmp_path / "absent.tflite")
    assert code == 2 and "absent.tflite: no such file" in err
    (tmp_path / "model.h5").write_bytes(b"x")
    code, _, err = _cli(capsys, "inspect", tmp_path / "model.h5")
    assert code == 2 and "unknown model format '.h5'" in err


def test_debug_shows_the_exception(tmp_path):
    path = tmp_path / "garbage.tflite"
    path.write_bytes(b"nope")
    with pytest.raises(Exception, match="not a TFLite model"):
        main(["--debug", "inspect", str(path)])


def test_run_one_sample_and_a_batch_match_tflm(tmp_path, capsys):
    from edgekd.verify.tflm import run_tflm

    model = save_tflite(fc_keep_dims_graph(), tmp_path / "fc.tflite")
    x = np.random.default_rng(0).integers(-128, 128, (5, 1, 3, 4), dtype=np.int8)
    want = run_tflm(model, x)[0]
    np.save(tmp_path / "one.npy", x[0])
    np.save(tmp_path / "batch.npy", x)
    assert _cli(capsys, "run", model, "--input", tmp_path / "one.npy",
                "--output", tmp_path / "one_out.npy")[0] == 0
    assert _cli(capsys, "run", model, "-i", tmp_path / "batch.npy",
                "-o", tmp_path / "batch_out.npy")[0] == 0
    one, batch = np.load(tmp_path / "one_out.npy"), np.load(tmp_path / "batch_out.npy")
    assert one.dtype == np.int8 and one.tobytes() == want[0].tobytes()
    assert batch.shape == want.shape and batch.tobytes() == want.tobytes()
    code, out, _ = _cli(capsys, "run", model, "-i", tmp_path / "one.npy")
    assert code == 0 and out.startswith("y: int8 [1, 3, 6]")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "batch.npy", "batch_out.npy", "fc.tflite", "one.npy", "one_out.npy"]


@pytest.mark.parametrize("array", [np.zeros((1, 3, 4), np.float32),
                                   np.zeros((3, 4), np.int8),
                                   np.zeros((2, 1, 3, 5), np.int8)])
def test_run_rejects_wrong_dtype_or_shape(tmp_path, capsys, array):
    model = save_tflite(fc_keep_dims_graph(), tmp_path / "fc.tflite")
    np.save(tmp_path / "x.npy", array)
    code, _, err = _cli(capsys, "run", model, "-i", tmp_path / "x.npy",
                        "-o", tmp_path / "out.npy")
    assert code == 2 and err.count("\n") == 1
    assert "input 'x' must be int8 [1, 3, 4] (or a batch [N, 1, 3, 4])" in err
    assert not (tmp_path / "out.npy").exists()


def test_run_input_file_errors(tmp_path, capsys):
    model = save_tflite(fc_keep_dims_graph(), tmp_path / "fc.tflite")
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    code, _, err = _cli(capsys, "run", model, "-i", tmp_path / "bad.npy")
    assert code == 2 and "bad.npy: not a .npy array file" in err
    code, _, err = _cli(capsys, "run", model, "-i", tmp_path / "absent.npy")
    assert code == 2 and "absent.npy: no such file" in err


def test_run_mlperf(mlperf_path, tmp_path, capsys):
    from edgekd.verify.tflm import run_tflm

    graph = read_tflite(mlperf_path)
    x = np.random.default_rng(1).integers(-128, 128, (3, *graph.tensor(graph.inputs[0]).shape),
                                          dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    assert _cli(capsys, "run", mlperf_path, "-i", tmp_path / "x.npy",
                "-o", tmp_path / "y.npy")[0] == 0
    assert np.load(tmp_path / "y.npy").tobytes() == run_tflm(mlperf_path, x)[0].tobytes()


def test_inspect_shows_the_whole_model_and_every_blocker(tmp_path, capsys):
    import dataclasses

    import tflite

    from edgekd.frontends import tflite as frontend
    from tests.codegen.graphs import small_cnn

    # Two operators of a supported model replaced by ops edgekd does not run.
    records = frontend._graph_records(small_cnn())
    cumsum, svdf = tflite.BuiltinOperator.CUMSUM, tflite.BuiltinOperator.SVDF
    for index, code in ((1, cumsum), (3, svdf)):
        records.operators[index] = dataclasses.replace(
            records.operators[index], code=code, options_type=0, write_options=None)
    path = tmp_path / "blocked.tflite"
    path.write_bytes(frontend._serialize(records))
    code, out, err = _cli(capsys, "inspect", path)
    assert code == 2 and "2 blocker(s)" in err and "\n" not in err.strip()
    assert f"operators: {len(records.operators)}   blockers: 2" in out
    assert "operator 1 (CUMSUM)" in out
    assert "operator 3 (SVDF)" in out
    assert out.count(" ok ") == len(records.operators) - 2
    code, out, _ = _cli(capsys, "inspect", path, "--json")
    assert [b["op"] for b in json.loads(out)["blockers"]] == ["CUMSUM", "SVDF"]
