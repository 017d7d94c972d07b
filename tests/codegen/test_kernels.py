"""Kernel variants and what they read (edgekd/codegen/kernels.py): the folded bias and the
packed weights equal the arithmetic they replace, each layer lists the Helium kernel its
shapes allow before the neutral one, and the generated C picks among them with #if."""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from edgekd.codegen import generate_model, kernel_table
from edgekd.codegen.kernel_table import MVE
from edgekd.codegen.kernels import folded_bias, packed_conv_filter, packed_depthwise_filter
from edgekd.codegen.prepare import layer_record


def layer_variants(graph, node):
    return layer_record(graph, node).variants


def inplace_lead(graph, node):
    return layer_record(graph, node).lead

from .graphs import GraphBuilder, small_cnn


def test_folded_bias_moves_the_input_offset_out_of_the_products():
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (5, 3, 3, 7), dtype=np.int8)
    x = rng.integers(-128, 128, (3, 3, 7), dtype=np.int8)
    bias = rng.integers(-2**31, 2**31, 5, dtype=np.int64).astype(np.int32)
    offset = 113
    # What the portable kernel sums (int32, wrapping) ...
    exact = (bias.astype(np.int64) + (w.astype(np.int64) * (x.astype(np.int64) + offset))
             .reshape(5, -1).sum(axis=1))
    # ... equals the folded bias plus raw products, modulo 2^32.
    folded = folded_bias(w, bias, offset).astype(np.int64) + \
        (w.astype(np.int64) * x.astype(np.int64)).reshape(5, -1).sum(axis=1)
    assert np.array_equal(exact % 2**32, folded % 2**32)
    assert folded_bias(w, None, 0).tolist() == [0] * 5


def test_folded_bias_of_a_depthwise_filter_sums_each_channel_over_its_taps():
    w = np.arange(2 * 2 * 3, dtype=np.int8).reshape(1, 2, 2, 3)
    assert folded_bias(w, np.array([1, 2, 3], dtype=np.int32), 2, depthwise=True).tolist() == \
        [1 + 2 * (0 + 3 + 6 + 9), 2 + 2 * (1 + 4 + 7 + 10), 3 + 2 * (2 + 5 + 8 + 11)]


def test_packed_filters():
    w = np.arange(3 * 1 * 2 * 9, dtype=np.int64).astype(np.int8).reshape(3, 1, 2, 9)
    rows = packed_conv_filter(w).reshape(3, 32)  # 18 weights padded to two vectors
    assert np.array_equal(rows[:, :18], w.reshape(3, 18)) and not rows[:, 18:].any()
    dw = np.arange(3 * 3 * 6, dtype=np.int8).reshape(1, 3, 3, 6)
    blocks = packed_depthwise_filter(dw).reshape(2, 9, 4)  # channels 0-3, 4-5 (+ zeros)
    assert np.array_equal(blocks[0], dw.reshape(9, 6)[:, :4])
    assert np.array_equal(blocks[1, :, :2], dw.reshape(9, 6)[:, 4:]) and not blocks[1, :, 2:].any()


def layer(op_builder) -> tuple:
    g = GraphBuilder("one", (1, 6, 5, 8), seed=2)
    out = op_builder(g)
    graph = g.build(g.pool(out, "AVERAGE_POOL_2D", (2, 1)) if op_builder else out)
    return graph, graph.nodes[0]


@pytest.mark.parametrize("build, kernel", [
    (lambda g: g.conv(g.input, 8, kernel=(1, 1)), "ekd_conv2d_1x1_s8_mve"),
    (lambda g: g.conv(g.input, 8), "ekd_conv2d_s8_mve"),
    (lambda g: g.depthwise(g.input), "ekd_depthwise_conv2d_s8_mve"),
    (lambda g: g.add(g.conv(g.input, 8), g.input), None),
])
def test_each_layer_lists_its_helium_kernel_first_and_the_neutral_one_last(build, kernel):
    graph, node = layer(build)
    variants = layer_variants(graph, node)
    assert variants[0].guard == MVE and variants[-1].guard is None
    if kernel:
        assert variants[0].kernel == kernel and variants[0].bias == "folded"


def test_no_helium_depthwise_for_a_depth_multiplier():
    graph, node = layer(lambda g: g.depthwise(g.input, multiplier=2))
    assert [v.guard for v in layer_variants(graph, node)] == [None]


def test_a_kernel_without_a_write_order_keeps_its_layer_out_of_place(monkeypatch):
    graph, node = layer(lambda g: g.depthwise(g.input))
    # A row and two pixels of 8 channels, 56 bytes, rounded up to whole pixels that are
    # whole alignment steps (the fast kernel sweeps once per channel group: inplace.py).
    assert inplace_lead(graph, node) == 64
    unordered = tuple(dataclasses.replace(k, order=lambda layer: None)
                      if k.name == "ekd_depthwise_conv2d_fast_s8" else k
                      for k in kernel_table.KERNELS)
    monkeypatch.setattr(kernel_table, "KERNELS", unordered)
    assert inplace_lead(graph, node) is None


def test_generated_code_chooses_with_if_and_guards_what_only_one_build_reads():
    generated = generate_model(small_cnn(), "net")
    code, weights = generated.files["net.c"], generated.files["net_weights.c"]
    assert code.count("#if EKD_HAVE_MVE") >= 3 and "ekd_depthwise_conv2d_s8_mve(" in code
    # The depthwise layer's packed weights exist only where the Helium kernel is built.
    packed = re.search(r"#if (\S+)\n/\*[^\n]*\*/\nconst int8_t net_l1_filter_packed", weights)
    assert packed and packed.group(1) == MVE
    assert all(w.guard is None or not w.neutral or w.guard.startswith("!")
               for w in generated.weights)


