"""edgekd/frontends/tflite.py: reading the MLPerf models, writing, round trips, errors."""
from __future__ import annotations

import collections
import dataclasses
import os

import flatbuffers
import numpy as np
import pytest
import tflite

from edgekd.errors import EdgeKDError, GraphError, ModelFormatError, UnsupportedError
from edgekd.frontends import load_model
from edgekd.frontends import tflite as frontend
from edgekd.frontends.tflite import read_tflite, save_tflite, tensor_names, write_tflite
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.shapes import graph_macs

from .tflite_models import all_ops_graph, assert_same_graph, fc_keep_dims_graph

# From ../shared/models/mlperf-tiny/README.md (op counts) and the layer shapes (MACs).
MLPERF = {
    "kws_ref_model.tflite": {
        "ops": {"CONV_2D": 5, "DEPTHWISE_CONV_2D": 4, "AVERAGE_POOL_2D": 1, "RESHAPE": 1,
                "FULLY_CONNECTED": 1, "SOFTMAX": 1},
        "input": (1, 49, 10, 1), "output": (1, 12), "macs": 2_656_768,
    },
    "pretrainedResnet_quant.tflite": {
        "ops": {"CONV_2D": 9, "ADD": 3, "AVERAGE_POOL_2D": 1, "RESHAPE": 1,
                "FULLY_CONNECTED": 1, "SOFTMAX": 1},
        "input": (1, 32, 32, 3), "output": (1, 10), "macs": 12_501_632,
    },
}


# ------------------------------------------------------------------ reading MLPerf models


def test_mlperf_ops_shapes_and_macs(mlperf_path):
    expected = MLPERF[mlperf_path.name]
    graph = read_tflite(mlperf_path)
    assert dict(collections.Counter(n.op for n in graph.nodes)) == expected["ops"]
    assert [graph.tensor(n).shape for n in graph.inputs] == [expected["input"]]
    assert [graph.tensor(n).shape for n in graph.outputs] == [expected["output"]]
    assert graph_macs(graph) == expected["macs"]
    assert graph.name == mlperf_path.stem


def test_mlperf_tensors_follow_the_file(mlperf_path):
    """Constants carry the file's bytes; names are the TFLite names, one per tensor index."""
    data = mlperf_path.read_bytes()
    graph = read_tflite(data, source_name=mlperf_path.name)
    names = tensor_names(data)
    assert len(set(names)) == len(names)
    model = tflite.Model.GetRootAs(data, 0)
    subgraph = model.Subgraphs(0)
    for index, name in enumerate(names):
        t = subgraph.Tensors(index)
        assert name == t.Name().decode()
        if name not in graph.tensors:
            assert name.endswith("flatten/Const")  # RESHAPE's dropped shape input
            continue
        ir = graph.tensors[name]
        assert list(ir.shape) == t.ShapeAsNumpy().tolist()
        raw = model.Buffers(t.Buffer()).DataAsNumpy()
        if ir.is_constant:
            assert ir.data.dtype == np.dtype(ir.dtype) and ir.data.shape == ir.shape
            assert ir.data.tobytes() == raw.tobytes()
        q = t.Quantization()
        assert np.array_equal(ir.quant.scale, q.ScaleAsNumpy())
        assert np.array_equal(ir.quant.zero_point, q.ZeroPointAsNumpy())


def test_mlperf_attributes(mlperf_path):
    graph = read_tflite(mlperf_path)
    first = graph.nodes[0]
    assert first.op == "CONV_2D" and first.attrs["activation"] == "RELU"
    if mlperf_path.name.startswith("kws"):
        assert first.attrs == {"stride": (2, 2), "dilation": (1, 1), "padding": "SAME",
                               "activation": "RELU"}
        dw = graph.nodes[1]
        assert dw.attrs["depth_multiplier"] == 1
        assert graph.tensor(dw.inputs[1]).quant.axis == 3
        pool = next(n for n in graph.nodes if n.op == "AVERAGE_POOL_2D")
        assert pool.attrs["filter"] == (25, 5) and pool.attrs["padding"] == "VALID"
    assert graph.tensor(first.inputs[1]).quant.axis == 0
    assert graph.nodes[-1].op == "SOFTMAX" and graph.nodes[-1].attrs == {"beta": 1.0}
    assert len(graph.node_inputs(next(n for n in graph.nodes if n.op == "RESHAPE"))) == 1


def test_node_names_come_from_output_tensors(mlperf_path):
    graph = read_tflite(mlperf_path)
    names = [n.name for n in graph.nodes]
    assert len(set(names)) == len(names)
    for node in graph.nodes:
        assert node.outputs[0].split(";")[0] == node.name


# ------------------------------------------------------------------ writing, round trips


def test_round_trip_mlperf_same_graph_and_same_tflm_bytes(mlperf_path):
    from edgekd.verify.tflm import run_tflm

    graph = read_tflite(mlperf_path)
    rewritten = write_tflite(graph)
    again = read_tflite(rewritten, source_name=mlperf_path.name)
    assert_same_graph(graph, again)
    assert write_tflite(again) == rewritten  # the writer is deterministic

    shape = graph.tensor(graph.inputs[0]).shape
    x = np.random.default_rng(7).integers(-128, 128, (16, *shape), dtype=np.int8)
    original = run_tflm(mlperf_path, x)[0]
    assert original.shape == (16, *graph.tensor(graph.outputs[0]).shape)
    assert original.tobytes() == run_tflm(rewritten, x)[0].tobytes()
    assert len(np.unique(original.reshape(16, -1), axis=0)) > 1  # inputs mattered


@pytest.mark.parametrize("build", [all_ops_graph, fc_keep_dims_graph])
def test_round_trip_synthetic_graph(build):
    graph = build()
    data = write_tflite(graph)
    again = read_tflite(data, source_name=f"{graph.name}.tflite")
    assert_same_graph(graph, again)
    assert write_tflite(again) == data


def test_written_file_runs_in_tflm_like_the_reference():
    """Every op and option through write_tflite and TFLM, compared tensor by tensor with
    the numpy reference: a swapped stride, filter or axis in the writer would show."""
    from edgekd.interpreter import run_all
    from edgekd.verify.tflm import run_tflm_tensors

    graph = all_ops_graph()
    x = np.random.default_rng(3).uniform(-1, 1, (6, 1, 9, 6, 3)).astype(np.float32)
    tflm = run_tflm_tensors(write_tflite(graph), x)
    for n in range(len(x)):
        for name, value in run_all(graph, [x[n]]).items():
            assert value.tobytes() == tflm[name][n].tobytes(), (n, name)


def test_writer_layout_follows_the_schema():
    """Read the written file with the schema package directly, not with read_tflite."""
    data = write_tflite(all_ops_graph())
    model = tflite.Model.GetRootAs(data, 0)
    assert tflite.Model.ModelBufferHasIdentifier(data, 0)
    assert model.Version() == 3 and model.SubgraphsLength() == 1
    assert model.Buffers(0).DataLength() == 0
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        assert code.BuiltinCode() == code.DeprecatedBuiltinCode() < 127
        assert code.Version() >= 1
    sg = model.Subgraphs(0)
    tensors = {sg.Tensors(i).Name().decode(): sg.Tensors(i) for i in range(sg.TensorsLength())}
    assert tensors["dw/w"].Quantization().QuantizedDimension() == 3
    assert tensors["dw/w"].Quantization().ScaleLength() == 16
    assert tensors["conv/w"].Quantization().QuantizedDimension() == 0
    for t in tensors.values():
        buffer = model.Buffers(t.Buffer())
        if buffer.DataLength():
            start = buffer._tab.Vector(buffer._tab.Offset(4))
            assert start % 16 == 0, t.Name()
        else:
            assert t.Buffer() == 0
    reshape = next(sg.Operators(i) for i in range(sg.OperatorsLength())
                   if model.OperatorCodes(sg.Operators(i).OpcodeIndex()).BuiltinCode()
                   == tflite.BuiltinOperator.RESHAPE)
    assert reshape.BuiltinOptionsType() == tflite.BuiltinOptions.ReshapeOptions
    options = tflite.ReshapeOptions()
    options.Init(reshape.BuiltinOptions().Bytes, reshape.BuiltinOptions().Pos)
    assert options.NewShapeAsNumpy().tolist() == [2, 16]
    shape_tensor = sg.Tensors(int(reshape.Inputs(1)))
    assert shape_tensor.Type() == tflite.TensorType.INT32
    assert model.Buffers(shape_tensor.Buffer()).DataAsNumpy().view("<i4").tolist() == [2, 16]


def test_save_tflite_is_atomic(tmp_path):
    path = save_tflite(all_ops_graph(), tmp_path / "m.tflite")
    assert path.read_bytes() == write_tflite(all_ops_graph())
    broken = all_ops_graph()
    broken.outputs = ["missing"]
    with pytest.raises(GraphError):
        save_tflite(broken, tmp_path / "broken.tflite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite"]


def test_writer_rejects_constant_data_of_the_wrong_shape():
    graph = fc_keep_dims_graph()
    graph.tensors["w"].data = graph.tensors["w"].data[:3]
    with pytest.raises(GraphError, match="'w' holds data of shape"):
        write_tflite(graph)


# ------------------------------------------------------------------ names


def _records(graph: Graph) -> frontend._ModelRecords:
    """The writer's file-level records for a graph, not validated: tests edit them."""
    return frontend._graph_records(graph)


def _single_op_graph(op="MAX_POOL_2D", dtype="int8", quant=True) -> Graph:
    q = QuantParams.per_tensor(0.1, 0) if quant else None
    tensors = [Tensor("x", (1, 4, 4, 2), dtype, q), Tensor("y", (1, 2, 2, 2), dtype, q)]
    attrs = {"filter": (2, 2), "stride": (2, 2), "padding": "VALID", "activation": "NONE"}
    return Graph("g", {t.name: t for t in tensors}, [Node(op, "y", ["x"], ["y"], attrs)],
                 ["x"], ["y"])


def test_tensor_names_are_unique_and_deterministic():
    records = _records(_single_op_graph())
    records.tensors = [dataclasses.replace(t, name=n)
                       for t, n in zip(records.tensors, ["a", "a"])]
    records.tensors += [Tensor("", (1,), "int8", QuantParams.per_tensor(1.0, 0)),
                        Tensor("a_1", (1,), "int8", QuantParams.per_tensor(1.0, 0))]
    data = frontend._serialize(records)
    assert tensor_names(data) == ["a", "a_1", "tensor_2", "a_1_1"]
    graph = read_tflite(data)
    assert graph.inputs == ["a"] and graph.outputs == ["a_1"]
    assert graph.name == "g"  # bytes without a source name: the subgraph's name


# ------------------------------------------------------------------ errors


def _error(data: bytes, kind=EdgeKDError, label="bad.tflite") -> str:
    with pytest.raises(kind) as info:
        read_tflite(data, source_name=label)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{label}: "), message
    return message


def test_unsupported_op_names_file_operator_and_supported_ops():
    records = _records(_single_op_graph())
    records.operators[0] = dataclasses.replace(
        records.operators[0], code=tflite.BuiltinOperator.SVDF, options_type=0,
        write_options=None)
    message = _error(frontend._serialize(records), UnsupportedError)
    assert message == ("bad.tflite: operator 0 (SVDF): unsupported op; supported: "
                       + ", ".join(sorted(frontend.SUPPORTED_OPS.values())))
    assert "ADD, ARG_MAX, ARG_MIN, AVERAGE_POOL_2D" in message


def test_custom_op_is_named():
    records = _records(_single_op_graph())
    records.operators[0] = dataclasses.replace(records.operators[0],
                                               code=tflite.BuiltinOperator.CUSTOM)
    assert "operator 0 (CUSTOM '')" in _error(frontend._serialize(records), UnsupportedError)


def test_float_model_is_rejected():
    message = _error(frontend._serialize(_records(_single_op_graph(dtype="float32",
                                                                    quant=False))),
                     UnsupportedError)
    assert "operator 0 (MAX_POOL_2D)" in message and "float32 model" in message


def test_hybrid_model_is_rejected():
    graph = fc_keep_dims_graph()
    for name in ("x", "y"):
        graph.tensors[name] = dataclasses.replace(graph.tensors[name], dtype="float32",
                                                  quant=None)
    message = _error(frontend._serialize(_records(graph)), UnsupportedError)
    assert "hybrid model" in message and "'x' is float32" in message


def test_int16_tensors_are_rejected(monkeypatch):
    monkeypatch.setitem(frontend._TYPE_OF_DTYPE, "int16", tflite.TensorType.INT16)
    message = _error(frontend._serialize(_records(_single_op_graph(dtype="int16"))),
                     UnsupportedError)
    assert "operator 0 (MAX_POOL_2D): tensor 0 ('x'): int16" in message


def test_int32_activations_are_rejected():
    message = _error(frontend._serialize(_records(_single_op_graph(dtype="int32",
                                                                    quant=False))),
                     UnsupportedError)
    assert "operator 0 (MAX_POOL_2D): tensor 'x' is int32; expected int8" in message


def test_missing_quantization_is_rejected():
    message = _error(frontend._serialize(_records(_single_op_graph(quant=False))),
                     ModelFormatError)
    assert "int8 tensor 'x' has no quantization parameters" in message


def test_bad_buffer_size_is_rejected():
    graph = fc_keep_dims_graph()
    graph.tensors["w"].data = graph.tensors["w"].data[:5]
    message = _error(frontend._serialize(_records(graph)), ModelFormatError)
    assert "tensor 1 ('w'): buffer 1 holds 20 bytes; a int8 tensor of shape [6, 4] needs 24" \
        in message


def test_unsupported_fused_activation():
    records = _records(fc_keep_dims_graph())
    op = records.operators[0]

    def tanh_options(b):
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(
            b, tflite.ActivationFunctionType.TANH)
        return tflite.FullyConnectedOptionsEnd(b)
    records.operators[0] = dataclasses.replace(op, write_options=tanh_options)
    message = _error(frontend._serialize(records), UnsupportedError)
    assert "operator 0 (FULLY_CONNECTED): fused activation TANH" in message


def test_zero_stride_is_a_format_error_not_a_crash():
    records = _records(_single_op_graph())

    def zero_stride(b):
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddFilterHeight(b, 2)
        tflite.Pool2DOptionsAddFilterWidth(b, 2)
        return tflite.Pool2DOptionsEnd(b)  # strides default to 0
    records.operators[0] = dataclasses.replace(records.operators[0], write_options=zero_stride)
    assert "stride_h 0, stride_w 0 (must be >= 1)" in _error(frontend._serialize(records),
                                                             ModelFormatError)


def test_wiring_errors_name_the_file():
    records = _records(_single_op_graph())
    records.operators[0].inputs = [1]  # the node consumes its own output
    message = _error(frontend._serialize(records), ModelFormatError)
    assert message == ("bad.tflite: graph 'bad': node 0 (MAX_POOL_2D 'y'): input 'y' is used "
                       "before it is computed")


def _two_subgraph_model() -> bytes:
    b = flatbuffers.Builder(256)
    subgraphs = []
    for _ in range(2):
        tflite.SubGraphStart(b)
        subgraphs.append(tflite.SubGraphEnd(b))
    vector = frontend._offset_vector(b, subgraphs)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddSubgraphs(b, vector)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_several_subgraphs_are_rejected():
    assert "2 subgraphs" in _error(_two_subgraph_model(), UnsupportedError)


def test_not_a_tflite_file():
    assert "not a TFLite model" in _error(b"\x00" * 64, ModelFormatError)
    assert "not a TFLite model" in _error(b"", ModelFormatError)


def test_missing_file(tmp_path):
    with pytest.raises(EdgeKDError, match="no such file"):
        read_tflite(tmp_path / "absent.tflite")


# ------------------------------------------------------------------ load_model


def test_load_model_dispatches_on_suffix(tmp_path):
    path = save_tflite(fc_keep_dims_graph(), tmp_path / "m.TFLITE")
    assert load_model(path).name == "m"


def test_load_model_errors(tmp_path):
    with pytest.raises(EdgeKDError, match="absent.tflite: no such file"):
        load_model(tmp_path / "absent.tflite")
    (tmp_path / "m.pb").write_bytes(b"x")
    with pytest.raises(UnsupportedError, match=r"unknown model format '\.pb'; supported: "):
        load_model(tmp_path / "m.pb")
    os.mkdir(tmp_path / "dir.tflite")
    with pytest.raises(EdgeKDError, match="no such file"):
        load_model(tmp_path / "dir.tflite")
