"""The generated C of a DYNAMIC_FULLY_CONNECTED layer: its call, its scratch in the arena
plan, and float constants that read back as exactly the graph's float32 values."""
from __future__ import annotations

import re

import numpy as np

from edgekd.codegen.render import generate_model
from edgekd.ir import Graph, Node, QuantParams, Tensor


def two_layer_graph() -> Graph:
    rng = np.random.default_rng(5)
    tensors = {"x": Tensor("x", (1, 2, 1, 20), "float32"),
               "h": Tensor("h", (1, 2, 1, 16), "float32"),
               "y": Tensor("y", (1, 2, 1, 3), "float32")}
    for name, shape in (("w1", (16, 20)), ("w2", (3, 16))):
        tensors[name] = Tensor(name, shape, "int8",
                               QuantParams(rng.uniform(1e-3, 1e-1, shape[0]),
                                           np.zeros(shape[0]), 0),
                               rng.integers(-127, 128, shape).astype(np.int8))
    tensors["b1"] = Tensor("b1", (16,), "float32", None,
                           (rng.normal(size=16) * 1e-3).astype(np.float32))
    nodes = [Node("DYNAMIC_FULLY_CONNECTED", "fc1", ["x", "w1", "b1"], ["h"],
                  {"activation": "RELU6"}),
             Node("DYNAMIC_FULLY_CONNECTED", "fc2", ["h", "w2", ""], ["y"],
                  {"activation": "NONE"})]
    return Graph("two", tensors, nodes, ["x"], ["y"]).validate()


def test_layers_call_the_kernel_with_planned_scratch():
    model = generate_model(two_layer_graph(), "two")
    source = model.files["two.c"]
    calls = re.findall(r"const ekd_context ctx = \{ arena \+ (\d+), (\d+) \};\n\n"
                       r"\s+status = ekd_dynamic_fully_connected_f32\(&ctx, &params, "
                       r"two_l(\d)_filter_scale,", source)
    assert [(int(size), layer) for _, size, layer in calls] == [(20, "0"), (16, "1")]
    for (offset, size, layer) in calls:
        scratch = model.plan.scratch[int(layer)]
        assert (scratch.offset, scratch.nbytes) == (int(offset), int(size))
    assert ".activation_min = 0.0f, .activation_max = 6.0f," in source
    assert ".activation_min = -3.40282347e+38f, .activation_max = 3.40282347e+38f," in source
    assert "&filter_dims, two_l1_filter, NULL," in source  # fc2 has no bias
    assert "input   float32 [1, 2, 1, 20]" in source


def test_float_constants_read_back_exactly():
    graph = two_layer_graph()
    weights = generate_model(graph, "two").files["two_weights.c"]

    def array(symbol: str) -> np.ndarray:
        body = re.search(rf"const float {symbol}\[\d+\] EKD_ALIGNED\(16\) = \{{(.*?)\}};",
                         weights, re.S).group(1)
        return np.array([float(v.rstrip("f")) for v in body.replace(",", " ").split()],
                        dtype=np.float32)

    bias = graph.tensor("b1").data
    assert array("two_l0_bias").view(np.uint32).tolist() == bias.view(np.uint32).tolist()
    scales = graph.tensor("w2").quant.scale.astype(np.float32)
    assert array("two_l1_filter_scale").view(np.uint32).tolist() == \
        scales.view(np.uint32).tolist()


def test_two_rows_per_input_are_bit_exact_on_the_host():
    from edgekd.verify.host import verify_host

    result = verify_host(two_layer_graph(), 100)  # each sample quantizes two rows apart
    assert result.bit_exact, result.summary()
