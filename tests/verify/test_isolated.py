"""The oracles run in a child process (edgekd/verify/isolated.py): a crash there is
reported as such and the comparison with the numpy reference still counts."""
from __future__ import annotations

import dataclasses
import os

import pytest

from edgekd.errors import ModelFormatError
from edgekd.frontends import tflite
from edgekd.verify.host import verify_host
from edgekd.verify.isolated import OracleCrashed, call_isolated
from edgekd.verify.tflm import tflm_oracle
from tests.randgraph import RandomGraphBuilder


def depthwise_without_bias(path):
    """A DEPTHWISE_CONV_2D whose bias input is the index -1 (TFLite's "absent"): a valid
    model on which TFLM's interpreter reads through a null pointer."""
    g = RandomGraphBuilder("dw_no_bias", (1, 6, 6, 4), 1)
    g.window_depthwise(g.input, (3, 3), (1, 1), (1, 1), "SAME", 1, "NONE")
    g.nodes[-1].inputs[2] = ""
    graph = g.build(g.nodes[-1].outputs[0])
    records = tflite._graph_records(graph)
    op = records.operators[0]
    records.operators[0] = dataclasses.replace(op, inputs=[*op.inputs, -1])
    path.write_bytes(tflite._serialize(records))
    return path


def test_verify_survives_an_oracle_crash_and_still_compares_the_reference(tmp_path):
    model = depthwise_without_bias(tmp_path / "dw.tflite")
    result = verify_host(model, inputs=3)
    assert result.bit_exact
    assert result.compared[0] == "reference: every tensor"
    assert "the oracle crashed on this model (killed by SIGSEGV)" in result.compared[1]
    assert result.tflm_arena_bytes is None


def test_a_crash_names_the_model_and_the_signal(tmp_path):
    with pytest.raises(OracleCrashed, match=r"^m\.tflite: the oracle crashed on this model "
                                            r"\(killed by SIGABRT\)$"):
        call_isolated(os.abort, label="m.tflite")


def test_errors_in_the_child_come_back_as_they_were(tmp_path):
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\0" * 64)
    with pytest.raises(ModelFormatError, match="garbage.tflite"):
        tflm_oracle(garbage, None, every_tensor=False)
