"""Model boundaries as converters emit them: uint8 inputs and outputs around an int8
graph (REQUANTIZE), float32 ones (QUANTIZE/DEQUANTIZE), several inputs and outputs in the
generated API; the C must match the reference and TFLM byte for byte."""
from __future__ import annotations

import numpy as np

from edgekd.codegen import generate_model
from edgekd.frontends.tflite import read_tflite, save_tflite
from edgekd.ir import Graph, Node, QuantParams, Tensor
from edgekd.verify.host import verify_host


def _t(name, dtype, quant=None, shape=(1, 4, 5, 3)):
    return Tensor(name, shape, dtype, QuantParams.per_tensor(*quant) if quant else None)


def mixed_io_graph() -> Graph:
    """uint8 and float32 inputs, one ADD, uint8 and float32 outputs."""
    tensors = [_t("x_u8", "uint8", (0.02, 131)), _t("x_f32", "float32"),
               _t("a", "int8", (0.02, 3)), _t("b", "int8", (0.03, -5)),
               _t("c", "int8", (0.04, -1)), _t("y_u8", "uint8", (0.04, 127)),
               _t("y_f32", "float32")]
    nodes = [Node("REQUANTIZE", "in_u8", ["x_u8"], ["a"]),
             Node("QUANTIZE", "in_f32", ["x_f32"], ["b"]),
             Node("ADD", "add", ["a", "b"], ["c"], {"activation": "NONE"}),
             Node("REQUANTIZE", "out_u8", ["c"], ["y_u8"]),
             Node("DEQUANTIZE", "out_f32", ["c"], ["y_f32"])]
    return Graph("mixed_io", {t.name: t for t in tensors}, nodes,
                 ["x_u8", "x_f32"], ["y_u8", "y_f32"]).validate()


def test_uint8_and_float_inputs_and_outputs_are_bit_exact_with_tflm(tmp_path):
    path = save_tflite(mixed_io_graph(), tmp_path / "mixed_io.tflite")
    assert [n.op for n in read_tflite(path).nodes][0] == "REQUANTIZE"
    result = verify_host(path, inputs=20)
    assert result.bit_exact, result.summary()
    assert any(c.startswith("tflm") for c in result.compared)


def test_several_inputs_and_outputs_are_members_of_the_api_structs():
    header = generate_model(mixed_io_graph(), "mixed").files["mixed.h"]
    assert "uint8_t data0[MIXED_INPUT0_SIZE];" in header
    assert "float data1[MIXED_INPUT1_SIZE];" in header
    assert "uint8_t data0[MIXED_OUTPUT0_SIZE];" in header
    assert "#define MIXED_OUTPUT1_BYTES 240" in header


def test_given_inputs_one_array_per_model_input():
    graph = mixed_io_graph()
    rng = np.random.default_rng(3)
    x_u8 = rng.integers(0, 256, size=(4, 1, 4, 5, 3), dtype=np.uint8)
    x_f32 = rng.uniform(-3, 3, size=(4, 1, 4, 5, 3)).astype(np.float32)
    assert verify_host(graph, inputs=[x_u8, x_f32]).bit_exact


def test_every_layout_op_between_uint8_and_float_boundaries_is_bit_exact(tmp_path):
    """TILE is in the graph, so LiteRT (which has it) is the oracle of the outputs."""
    from tests.codegen.test_strict_c import layout_net

    result = verify_host(save_tflite(layout_net(), tmp_path / "layout.tflite"), inputs=10)
    assert result.bit_exact, result.summary()
    assert any(c.startswith("litert") for c in result.compared)
