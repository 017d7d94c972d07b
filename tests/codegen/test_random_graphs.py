"""Random valid int8 graphs (tests/randgraph.py), each compiled and run on the host with
the arena poisoned between layers (the host verification's EKD_POISON build), compared
byte for byte with the numpy reference. Seeded: the same graphs on every run. A dozen in
the quick subset, 200 in the full suite, thousands under ``make fuzz``
(scripts/fuzz.py)."""
from __future__ import annotations

import pytest

from edgekd.verify.host import verify_host
from tests.randgraph import random_graph


def check_random_graph(seed: int) -> None:
    graph = random_graph(seed)
    result = verify_host(graph, inputs=3, seed=seed, tflm=False)
    assert result.bit_exact, f"seed {seed}: {result.summary()}"


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_are_bit_exact(seed):
    check_random_graph(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12, 212))
def test_more_random_graphs_are_bit_exact(seed):
    check_random_graph(seed)


def test_the_generator_covers_every_situation():
    """Over the quick subset's seeds and a few more: every op of the registry, the fused
    conv-of-skip residual, layers in place, RESHAPE aliases."""
    from edgekd.codegen.choice import generator_graph, plan_for
    from edgekd.codegen.residual import residual_of
    from tests.randgraph import GENERATED_OPS

    ops, fused_own_skip, in_place = set(), 0, 0
    for seed in range(60):
        graph = random_graph(seed)
        ops |= {n.op for n in graph.nodes}
        generated = generator_graph(graph)
        plan = plan_for(generated)
        for node in generated.nodes:
            residual = residual_of(node)
            fused_own_skip += residual is not None and residual.skip == node.inputs[0]
            in_place += node.op != "RESHAPE" and any(
                plan.tensors[out].alias_of for out in node.outputs)
    assert ops == set(GENERATED_OPS)
    assert fused_own_skip and in_place


def test_a_float_tensor_held_as_a_strided_view_is_compared_by_bytes():
    """Random graph 1118 (make fuzz): a float reference tensor that is no contiguous
    array once made the comparison raise instead of compare."""
    check_random_graph(1118)
