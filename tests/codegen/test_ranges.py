"""Compile-time checks of every layer parameter against the C runtime's ranges
(edgekd/codegen/ranges.py), and the runtime extended where TFLM takes what it once
refused: requantization shifts above 30, from output scales far below input x weight."""
from __future__ import annotations

import dataclasses
import re

import pytest

from edgekd.codegen import ranges
from edgekd.frontends import save_model
from edgekd.ir import QuantParams, Tensor
from edgekd.reference.params import AddParams
from edgekd.verify.cffi_build import RUNTIME_SRC
from edgekd.verify.host import verify_host

from .graphs import GraphBuilder


def _macro(header: str, name: str) -> int:
    text = (RUNTIME_SRC / header).read_text()
    return int(re.search(rf"#define {name} \(?(-?\d+)\)?", text).group(1))


def test_the_limits_are_the_runtimes():
    assert ranges.SHIFT_MIN == _macro("ekd_fixedpoint.h", "EKD_SHIFT_MIN")
    assert ranges.SHIFT_MAX == _macro("ekd_fixedpoint.h", "EKD_SHIFT_MAX")
    assert ranges.OFFSET_LIMIT == _macro("ekd_validate.h", "EKD_OFFSET_LIMIT")


def tiny_output_scale(op: str, out_scale: float):
    g = GraphBuilder("tiny", (1, 4, 4, 8), 0)
    if op == "CONV_2D":
        x = g.conv(g.input, 4, kernel=(3, 3), activation="NONE")
    elif op == "DEPTHWISE_CONV_2D":
        x = g.depthwise(g.input, activation="NONE")
    else:
        x = g.fully_connected(g.reshape(g.input, (1, 128)), 5)
    g.tensors[x] = Tensor(x, g.tensors[x].shape, "int8", QuantParams.per_tensor(out_scale, 3))
    return g.build(x)


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"])
@pytest.mark.parametrize("out_scale", [1e-12, 1e-22])
def test_shifts_above_30_run_as_tflm_runs_them(tmp_path, op, out_scale):
    """An output scale of 1e-12 gives shifts of 31 and more (+66 at 1e-22): TFLM runs
    the model, and so does the generated C, byte for byte (it once returned -1)."""
    graph = tiny_output_scale(op, out_scale)
    from edgekd.reference.params import prepare_conv, prepare_fully_connected

    prepare = prepare_fully_connected if op == "FULLY_CONNECTED" else prepare_conv
    assert max(prepare(graph, graph.nodes[-1]).shift) > 30
    model = save_model(graph, tmp_path / "tiny.tflite")
    result = verify_host(model, inputs=5)
    assert result.bit_exact and "tflm" in result.compared[1]


def test_parameters_the_runtime_refuses_are_named():
    add = AddParams(input1_offset=0, input1_multiplier=1 << 30, input1_shift=0,
                    input2_offset=0, input2_multiplier=1 << 30, input2_shift=-1,
                    left_shift=20, output_offset=0, output_multiplier=1 << 30,
                    output_shift=-20, activation_min=-128, activation_max=127)
    assert ranges.range_problem(add) is None
    assert ranges.range_problem(dataclasses.replace(add, output_shift=1)) == \
        "output_shift 1 is outside [-31, 0]"
    assert "input1_offset 300" in ranges.range_problem(
        dataclasses.replace(add, input1_offset=300))
    assert "activation range [5, 4]" in ranges.range_problem(
        dataclasses.replace(add, activation_min=5, activation_max=4))


def test_float_layers_have_no_integer_ranges():
    from tests.codegen.test_dynamic_layer import two_layer_graph
    from edgekd.codegen import generate_model

    assert generate_model(two_layer_graph(), "two").files  # float clamps of +-FLT_MAX
