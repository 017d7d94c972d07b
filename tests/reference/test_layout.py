"""The layout ops (PAD, CONCATENATION, STRIDED_SLICE, TRANSPOSE, TILE): the reference
against TFLM on one-op models written by the .tflite writer (TILE against LiteRT: TFLM has
no TILE), and the same graphs through the generated C on the host."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.frontends.tflite import read_tflite, write_tflite
from edgekd.interpreter import run
from edgekd.verify.host import verify_host

from .single_op import assert_matches_tflm, layout_graph
from .strategies import quants, seeds

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


def _batches(rng, graph, samples: int = 3) -> list[np.ndarray]:
    return [rng.integers(-128, 128, size=(samples, *graph.tensor(n).shape)).astype(np.int8)
            for n in graph.inputs]


@st.composite
def pad_cases(draw):
    shape = draw(shapes)
    paddings = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in shape)
    out = tuple(d + a + b for d, (a, b) in zip(shape, paddings))
    quant = draw(quants)
    value = draw(st.one_of(st.just(quant[1]), st.integers(-128, 127)))  # PAD or PADV2
    return layout_graph("PAD", [shape], out, quant, {"paddings": paddings, "pad_value": value})


@st.composite
def concatenation_cases(draw):
    shape = list(draw(shapes))
    axis = draw(st.integers(0, len(shape) - 1))
    pack = draw(st.booleans())
    count = draw(st.integers(1, 4))
    if pack:  # PACK: inputs one rank lower, a new axis of extent ``count``
        out = shape[:axis] + [count] + shape[axis:]
        ins = [tuple(shape)] * count
    else:
        extents = [draw(st.integers(1, 4)) for _ in range(count)]
        ins = [tuple(shape[:axis] + [e] + shape[axis + 1:]) for e in extents]
        out = shape[:axis] + [sum(extents)] + shape[axis + 1:]
    return layout_graph("CONCATENATION", ins, tuple(out), draw(quants), {"axis": axis})


@st.composite
def strided_slice_cases(draw):
    shape = draw(st.lists(st.integers(1, 7), min_size=1, max_size=4).map(tuple))
    begin, strides, size = [], [], []
    for d in shape:
        stride = draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
        start = draw(st.integers(0, d - 1))
        room = (d - 1 - start) // stride + 1 if stride > 0 else start // -stride + 1
        begin.append(start)
        strides.append(stride)
        size.append(draw(st.integers(1, room)))
    out = [n for n in size if not (n == 1 and draw(st.booleans()))]  # shrunk axes
    return layout_graph("STRIDED_SLICE", [shape], tuple(out), draw(quants),
                        {"begin": tuple(begin), "strides": tuple(strides), "size": tuple(size)})


@st.composite
def transpose_cases(draw):
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=5).map(tuple))
    perm = tuple(draw(st.permutations(range(len(shape)))))
    return layout_graph("TRANSPOSE", [shape], tuple(shape[p] for p in perm), draw(quants),
                        {"perm": perm})


@st.composite
def tile_cases(draw):
    shape = draw(shapes)
    multiples = tuple(draw(st.integers(1, 3)) for _ in shape)
    return layout_graph("TILE", [shape], tuple(d * m for d, m in zip(shape, multiples)),
                        draw(quants), {"multiples": multiples})


@st.composite
def resize_cases(draw, op: str):
    n, h, w, c = (draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 6)),
                  draw(st.integers(1, 4)))
    out = (n, draw(st.integers(1, 13)), draw(st.integers(1, 13)), c)
    align = draw(st.booleans())
    return layout_graph(op, [(n, h, w, c)], out, draw(quants),
                        {"align_corners": align,
                         "half_pixel_centers": draw(st.booleans()) and not align})


def resize_nearest_cases():
    return resize_cases("RESIZE_NEAREST_NEIGHBOR")


def resize_bilinear_cases():
    return resize_cases("RESIZE_BILINEAR")


@st.composite
def gather_cases(draw):
    shape = draw(shapes)
    axis = draw(st.integers(0, len(shape) - 1))
    index_shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    indices = tuple(draw(st.integers(0, shape[axis] - 1))
                    for _ in range(int(np.prod(index_shape))))
    out = shape[:axis] + index_shape + shape[axis + 1:]
    return layout_graph("GATHER", [shape], out, draw(quants),
                        {"axis": axis, "indices": indices})


@pytest.mark.parametrize("cases", [pad_cases, concatenation_cases, strided_slice_cases,
                                   transpose_cases, resize_nearest_cases, gather_cases,
                                   resize_bilinear_cases], ids=lambda c: c.__name__)
@given(data=st.data(), seed=seeds)
@settings(max_examples=80, deadline=None)
def test_layout_op_matches_tflm(cases, data, seed):
    graph = data.draw(cases())
    assert_matches_tflm(graph, *_batches(np.random.default_rng(seed), graph))


@given(graph=tile_cases(), seed=seeds)
@settings(max_examples=40, deadline=None)
def test_tile_matches_litert(graph, seed):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=write_tflite(graph),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    x, y = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    for sample in _batches(np.random.default_rng(seed), graph)[0]:
        interpreter.set_tensor(x["index"], sample)
        interpreter.invoke()
        assert interpreter.get_tensor(y["index"]).tobytes() == run(graph, [sample])[0].tobytes()


@given(data=st.data(), seed=seeds)
@settings(max_examples=30, deadline=None)
def test_written_layout_ops_read_back_as_the_same_computation(data, seed):
    graph = data.draw(st.one_of(pad_cases(), concatenation_cases(), strided_slice_cases(),
                                transpose_cases(), tile_cases(), resize_nearest_cases(),
                                gather_cases(), resize_bilinear_cases()))
    back = read_tflite(write_tflite(graph))
    assert [n.op for n in back.nodes] == [n.op for n in graph.nodes]
    for sample in zip(*_batches(np.random.default_rng(seed), graph)):
        assert run(back, list(sample))[0].tobytes() == run(graph, list(sample))[0].tobytes()


@pytest.mark.parametrize("cases", [pad_cases, concatenation_cases, strided_slice_cases,
                                   transpose_cases, tile_cases, resize_nearest_cases,
                                   gather_cases, resize_bilinear_cases],
                         ids=lambda c: c.__name__)
@given(data=st.data())
@settings(max_examples=3, deadline=None)
def test_generated_c_copies_as_the_reference(cases, data):
    assert verify_host(data.draw(cases()), inputs=3).bit_exact


def test_shape_arithmetic_is_folded_at_import():
    """SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE (how converters write a flatten of a
    dynamic batch): the shape values are constants, only the RESHAPE remains."""
    import dataclasses

    import tflite

    from edgekd.frontends import tflite as frontend
    from edgekd.ir import Graph, Node, QuantParams, Tensor

    q = QuantParams.per_tensor(0.5, 1)
    tensors = [Tensor("x", (1, 2, 3, 4), "int8", q), Tensor("y", (1, 24), "int8", q)]
    graph = Graph("flatten", {t.name: t for t in tensors},
                  [Node("RESHAPE", "y", ["x"], ["y"])], ["x"], ["y"]).validate()
    records = frontend._graph_records(graph)

    def int32(name, shape, data=None):
        records.tensors.append(Tensor(name, shape, "int32", None,
                                      None if data is None else np.array(data, np.int32)))
        return len(records.tensors) - 1

    shape = int32("shape", (4,))
    begin, end, strides = (int32(n, (1,), v) for n, v in
                           (("b", [0]), ("e", [1]), ("s", [1])))
    batch = int32("batch", ())
    rest = int32("rest", (), [24])
    packed = int32("packed", (2,))
    op = frontend._OperatorRecord
    codes = tflite.BuiltinOperator
    reshape = records.operators[0]
    records.operators = [
        op(codes.SHAPE, 1, [0], [shape]),
        op(codes.STRIDED_SLICE, 2, [shape, begin, end, strides], [batch],
           *frontend_slice_options(shrink=1)),
        op(codes.PACK, 2, [batch, rest], [packed], *frontend_pack_options(2)),
        dataclasses.replace(reshape, inputs=[0, packed]),
    ]
    back = frontend.read_tflite(frontend._serialize(records))
    assert [n.op for n in back.nodes] == ["RESHAPE"]
    assert back.tensor("y").shape == (1, 24)


def frontend_slice_options(shrink: int):
    import tflite

    def write(b):
        tflite.StridedSliceOptionsStart(b)
        tflite.StridedSliceOptionsAddShrinkAxisMask(b, shrink)
        return tflite.StridedSliceOptionsEnd(b)
    return tflite.BuiltinOptions.StridedSliceOptions, write


def frontend_pack_options(count: int):
    import tflite

    def write(b):
        tflite.PackOptionsStart(b)
        tflite.PackOptionsAddValuesCount(b, count)
        tflite.PackOptionsAddAxis(b, 0)
        return tflite.PackOptionsEnd(b)
    return tflite.BuiltinOptions.PackOptions, write
