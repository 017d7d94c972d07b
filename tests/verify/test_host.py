"""Host verification (edgekd/verify/host.py) and the `compile`/`verify` commands.

The generated C, built with the runtime, must reproduce every tensor of the numpy
reference and of TFLM byte for byte; and each way a memory plan or a constant can be
wrong must show up as a mismatch.
"""
from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from edgekd.cli import main
from edgekd.codegen import generate_model
from edgekd.codegen.choice import generator_graph, plan_for
from edgekd.codegen.planner import INPUT
from edgekd.errors import EdgeKDError, VerificationError
from edgekd.frontends.tflite import save_tflite
from edgekd.verify.host import verify_host

from tests.codegen.graphs import small_cnn
from tests.conftest import mlperf_model


def broken_lifetime_plan(graph):
    """The plan, except that one tensor read by a later layer is declared dead as soon
    as it is written: only EKD_POISON can reveal that."""
    plan = plan_for(generator_graph(graph))
    victim = next(p for p in plan.tensors.values()
                  if p.location == "arena" and p.alias_of is None and p.last > p.first
                  and not any(q.alias_of == p.name for q in plan.tensors.values()))
    tensors = {**plan.tensors, victim.name: dataclasses.replace(victim, last=victim.first)}
    return dataclasses.replace(plan, tensors=tensors), victim


def test_small_cnn_is_bit_exact_with_every_tensor_compared():
    result = verify_host(small_cnn(), inputs=30, seed=1)
    assert result.bit_exact and result.mismatches == 0 and result.first_mismatch is None
    assert result.inputs == 30 and result.target == "host"
    assert result.compared == ["reference: every tensor"]
    assert result.arena_bytes == generate_model(small_cnn(), "net").plan.arena_bytes
    assert result.weights_bytes > 0


def test_poison_reveals_a_tensor_freed_too_early():
    graph = small_cnn()
    plan, victim = broken_lifetime_plan(graph)
    generated = generate_model(graph, "net", plan=plan)
    # Without poison the stale bytes are still there and the bug hides...
    assert verify_host(graph, inputs=5, poison=False, generated=generated).bit_exact
    # ...with poison the reader of the victim sees the pattern.
    result = verify_host(graph, inputs=5, poison=True, generated=generated)
    assert not result.bit_exact and result.mismatches == 5
    readers = [i for i, n in enumerate(generated.graph.nodes) if victim.name in n.inputs]
    assert result.first_mismatch.layer in readers


def test_overlapping_live_tensors_are_caught():
    graph = small_cnn()
    plan = plan_for(generator_graph(graph))
    first = graph.nodes[1]  # depthwise: reads conv_2d_0 while writing its own output
    src, dst = plan.tensors[first.inputs[0]], plan.tensors[first.outputs[0]]
    tensors = {**plan.tensors, dst.name: dataclasses.replace(dst, offset=src.offset)}
    generated = generate_model(graph, "net", plan=dataclasses.replace(plan, tensors=tensors))
    result = verify_host(graph, inputs=5, poison=False, generated=generated)
    assert not result.bit_exact
    assert result.first_mismatch.layer == 1 and result.first_mismatch.against == "reference"


def test_a_wrong_constant_is_reported_at_its_layer():
    graph = small_cnn()
    generated = generate_model(graph, "net")
    weights = generated.files["net_weights.c"]
    # The bias layer 2's kernel reads: as in the model, or with the input offset folded in.
    bias = re.search(r"net_l2_bias(?:_folded)?\[\d+\] EKD_ALIGNED\(16\) = \{\n\s+(-?\d+),",
                     weights)
    start, end = bias.span(1)
    broken = weights[:start] + str(int(bias.group(1)) + 5000) + weights[end:]
    generated = dataclasses.replace(generated, files={**generated.files,
                                                      "net_weights.c": broken})
    result = verify_host(graph, inputs=4, generated=generated)
    assert not result.bit_exact
    m = result.first_mismatch
    assert (m.sample, m.layer, m.against) == (0, 2, "reference")
    assert m.expected != m.got
    assert "layer 2" in result.summary()


def test_writing_past_the_arena_is_caught():
    graph = small_cnn()
    plan = plan_for(generator_graph(graph))
    top = max(p.offset + p.nbytes for p in plan.tensors.values() if p.location == "arena")
    # The arena cut 16 bytes short of the highest tensor the C writes.
    short = dataclasses.replace(plan, arena_bytes=top - 16, io_offsets={})
    generated = generate_model(graph, "net", plan=short)
    with pytest.raises(VerificationError, match=f"past the {short.arena_bytes}-byte arena"):
        verify_host(graph, inputs=1, poison=False, generated=generated)


def test_input_and_output_inside_the_arena():
    """Every other sample runs with the input and output in the places the plan keeps
    for them in the arena; a place that overlaps a tensor live with the input fails."""
    graph = small_cnn()
    plan = plan_for(generator_graph(graph))
    assert plan.io_offsets
    assert verify_host(graph, inputs=4).bit_exact
    first_output = plan.tensors[graph.nodes[0].outputs[0]]
    wrong = dataclasses.replace(plan, io_offsets={**plan.io_offsets,
                                                  INPUT: first_output.offset})
    generated = generate_model(graph, "net", plan=wrong)
    result = verify_host(graph, inputs=2, generated=generated)
    assert not result.bit_exact
    assert (result.first_mismatch.sample, result.first_mismatch.layer) == (1, 0)


def test_given_inputs_one_sample_or_a_batch():
    graph = small_cnn()
    batch = np.random.default_rng(5).integers(-128, 128, (3, 1, 8, 6, 3), dtype=np.int8)
    assert verify_host(graph, inputs=batch).inputs == 3
    assert verify_host(graph, inputs=batch[0]).inputs == 1
    with pytest.raises(EdgeKDError, match=r"int8 \[N, 1, 8, 6, 3\], got float64"):
        verify_host(graph, inputs=batch.astype(float))
    with pytest.raises(EdgeKDError, match="at least one input"):
        verify_host(graph, inputs=0)


def test_seeds_give_different_inputs_but_the_same_verdict():
    graph = small_cnn()
    a = verify_host(graph, inputs=3, seed=1)
    b = verify_host(graph, inputs=3, seed=2)
    assert a.to_json() == b.to_json()  # the verdict, not the data, is reported


def test_every_op_through_tflite_file(tmp_path):
    from tests.frontends.tflite_models import all_ops_graph

    path = tmp_path / "all_ops.tflite"
    save_tflite(all_ops_graph(), path)
    result = verify_host(path, inputs=40)
    assert result.bit_exact, result.summary()
    assert result.compared[1].startswith("tflm: ") and result.tflm_arena_bytes > 0


@pytest.mark.parametrize("key", ["kws", "resnet8"])
def test_mlperf_quick(key):
    result = verify_host(mlperf_model(key), inputs=10, seed=7)
    assert result.bit_exact, result.summary()
    assert "pre-softmax logits" in result.compared[1]


@pytest.mark.slow
@pytest.mark.parametrize("key", ["kws", "resnet8"])
def test_mlperf_bit_exact_on_200_inputs_with_a_poisoned_arena(key):
    result = verify_host(mlperf_model(key), inputs=200, poison=True)
    assert result.bit_exact, result.summary()
    assert result.inputs == 200 and result.mismatches == 0
    assert result.compared[0] == "reference: every tensor"
    assert "outputs and pre-softmax logits" in result.compared[1]
    assert result.arena_bytes < result.tflm_arena_bytes


@pytest.mark.slow
def test_mlperf_poison_catches_an_early_free():
    from edgekd.frontends import load_model

    graph = load_model(mlperf_model("kws"))
    plan, _ = broken_lifetime_plan(graph)
    generated = generate_model(graph, "kws", plan=plan)
    assert not verify_host(graph, inputs=2, generated=generated).bit_exact


# --- the command line ---------------------------------------------------------------

JSON_FIELDS = {"model", "target", "inputs", "mismatches", "bit_exact", "arena_bytes",
               "weights_bytes", "compared", "tflm_arena_bytes", "first_mismatch"}


@pytest.fixture
def small_tflite(tmp_path):
    path = tmp_path / "small net.tflite"
    save_tflite(small_cnn(), path)
    return path


def test_cli_verify_json(small_tflite, capsys):
    assert main(["verify", str(small_tflite), "--inputs", "7", "--json", "--seed", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert JSON_FIELDS <= set(result)
    assert result["bit_exact"] is True and result["inputs"] == 7
    assert result["target"] == "host" and result["first_mismatch"] is None
    assert result["tflm_arena_bytes"] > result["arena_bytes"] > 0


def test_cli_verify_input_file(small_tflite, tmp_path, capsys):
    batch = np.random.default_rng(0).integers(-128, 128, (4, 1, 8, 6, 3), dtype=np.int8)
    np.save(tmp_path / "in.npy", batch)
    assert main(["verify", str(small_tflite), "--input", str(tmp_path / "in.npy")]) == 0
    assert "bit-exact on 4 inputs" in capsys.readouterr().out


def test_cli_verify_exit_1_on_a_mismatch(small_tflite, monkeypatch, capsys):
    import edgekd.verify.host as host

    def broken(graph, name, plan=None):
        return generate_model(graph, name, plan=broken_lifetime_plan(graph)[0])

    monkeypatch.setattr(host, "generate_model", broken)
    assert main(["verify", str(small_tflite), "--inputs", "2", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["bit_exact"] is False and result["mismatches"] == 2
    assert {"sample", "layer", "tensor", "against", "index", "expected", "got"} == \
        set(result["first_mismatch"])


def test_cli_user_errors_exit_2(tmp_path, small_tflite, capsys):
    assert main(["verify", str(tmp_path / "missing.tflite")]) == 2
    assert "missing.tflite: no such file" in capsys.readouterr().err
    assert main(["compile", str(small_tflite), "-o", str(tmp_path / "o"), "--name", "1 x"]) == 2
    assert "not a C identifier" in capsys.readouterr().err


def test_cli_compile(small_tflite, tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["compile", str(small_tflite), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    plan = generate_model(small_cnn(), "small_net").plan
    assert text.startswith(f"small_net: arena {plan.arena_bytes} bytes "
                           f"(lower bound {plan.lower_bound})")
    written = sorted(p.name for p in out.iterdir())
    assert written == ["small_net.c", "small_net.cmake", "small_net.h", "small_net_weights.c"]
    for name in written:
        assert f"wrote {out / name}" in text
    assert main(["compile", str(small_tflite), "-o", str(out), "--name", "net", "--plan"]) == 0
    assert "arena plan for small net" in capsys.readouterr().out
    assert (out / "net.h").is_file()
