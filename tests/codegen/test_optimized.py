"""edgekd/codegen/optimized.py: which optimized kernel a layer calls on every non-Helium
core, the constants it prepares for it (rows4 and Winograd filters), the scratch sizes it
plans (equal to the C *_scratch_size functions), and the layers it leaves to the
reference kernels."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgekd.codegen import kernel_table, optimized
from edgekd.codegen.prepare import layer_record
from edgekd.codegen.render import generate_model
from edgekd.reference.params import prepare_conv
from edgekd.verify.cffi_build import compile_runtime

from ..runtime_c.ekd_runtime import host_build_flags
from .graphs import GraphBuilder


def layer_variants(graph, node):
    return layer_record(graph, node).variants


def optimized_kernel(graph, node):
    """The neutral kernel of a layer when it is an optimized one, else None."""
    neutral = layer_record(graph, node).neutral
    return None if neutral.kernel == kernel_table.portable_row(node.op).name else neutral


def layer(build, shape=(1, 9, 7, 12), seed=0):
    g = GraphBuilder("layer", shape, seed)
    graph = g.build(build(g))
    return graph, graph.nodes[0]


@pytest.mark.parametrize("build, kernel, filt, bias", [
    (lambda g: g.conv(g.input, 8), "ekd_conv2d_winograd_s8", "winograd", "folded"),
    (lambda g: g.conv(g.input, 8, kernel=(1, 1), padding="VALID"), "ekd_conv2d_1x1_s8",
     "rows4", "folded"),
    (lambda g: g.conv(g.input, 8, kernel=(1, 1), stride=(2, 2), padding="VALID"),
     "ekd_conv2d_1x1_s8", "rows4", "folded"),
    (lambda g: g.conv(g.input, 8, stride=(2, 2)), "ekd_conv2d_im2col_s8", "rows4", "folded"),
    (lambda g: g.conv(g.input, 8, kernel=(4, 2)), "ekd_conv2d_im2col_s8", "rows4", "folded"),
    (lambda g: g.depthwise(g.input), "ekd_depthwise_conv2d_fast_s8", "model", "model"),
    (lambda g: g.add(g.conv(g.input, 12), g.input), "ekd_add_fast_s8", "model", "model"),
])
def test_each_layer_gets_its_optimized_kernel_as_the_neutral_one(build, kernel, filt, bias):
    graph, _ = layer(build)
    node = graph.nodes[-1]
    neutral = layer_variants(graph, node)[-1]
    assert neutral.guard is None
    assert (neutral.kernel, neutral.filter, neutral.bias) == (kernel, filt, bias)


def test_few_input_channels_take_im2col_not_winograd():
    for channels, kernel in ((3, "ekd_conv2d_im2col_s8"), (7, "ekd_conv2d_im2col_s8"),
                             (8, "ekd_conv2d_winograd_s8")):
        graph, node = layer(lambda g: g.conv(g.input, 8), shape=(1, 9, 7, channels))
        assert optimized_kernel(graph, node).kernel == kernel


def test_layers_outside_the_fast_requantization_keep_the_reference_kernel(monkeypatch):
    graph, node = layer(lambda g: g.conv(g.input, 8))
    assert optimized_kernel(graph, node) is not None
    p = prepare_conv(graph, node)
    # A real multiplier of 1/2 or more (shift >= 0): the fast path cannot round it.
    monkeypatch.setattr(kernel_table.Layer, "params",
                        dataclasses.replace(p, shift=np.zeros_like(p.shift)))
    graph = dataclasses.replace(graph, tensors=dict(graph.tensors))  # records made anew
    assert optimized_kernel(graph, node) is None
    assert layer_variants(graph, node)[-1].kernel == "ekd_conv2d_s8"


def test_an_accumulator_that_may_reach_2_to_the_30_keeps_the_reference_kernel():
    graph, node = layer(lambda g: g.conv(g.input, 8, kernel=(1, 1), padding="VALID"))
    bias = graph.tensor(node.inputs[2])
    w = graph.tensor(node.inputs[1]).data
    room = (1 << 30) - 255 * int(np.abs(w.astype(np.int64)).reshape(8, -1).sum(axis=1)[3])
    bias.data[:] = 0
    bias.data[3] = room - 1
    p = prepare_conv(graph, node)
    assert optimized.fast_conv_ok(graph, node, p)
    bias.data[3] = room
    assert not optimized.fast_conv_ok(graph, node, p)


def test_depthwise_with_a_depth_multiplier_keeps_the_reference_kernel():
    graph, node = layer(lambda g: g.depthwise(g.input, multiplier=2))
    assert optimized_kernel(graph, node) is None


def test_rows4_packs_four_rows_by_four_values_zero_padded():
    w = np.arange(-60, 60, dtype=np.int64).reshape(6, 1, 4, 5).astype(np.int8)  # depth 20
    packed = optimized.rows4_filter(w)
    assert packed.dtype == np.int8 and packed.size == 8 * 20  # 2 row groups x 5 groups x 16
    blocks = packed.reshape(2, 5, 4, 4)
    rows = w.reshape(6, 20)
    for r in range(8):
        for k in range(20):
            expected = rows[r, k] if r < 6 else 0
            assert blocks[r // 4, k // 4, r % 4, k % 4] == expected


@pytest.mark.parametrize("seed", range(3))
def test_winograd_filter_reproduces_the_convolution_exactly(seed):
    """4 * (3x3 correlation of a 4x4 tile) = AT [sum_c U * V] AT^T, from the packed
    filter, for random int8 data including -128."""
    rng = np.random.default_rng(seed)
    out_c, in_c = 5, 6
    w = rng.integers(-128, 128, (out_c, 3, 3, in_c)).astype(np.int8)
    packed = optimized.winograd_filter(w)
    assert packed.dtype == np.int16
    groups = packed.reshape(16, 2, 2, 4, 4)  # position, out group, in group, out, slot
    order = optimized.WINOGRAD_GROUP_ORDER
    d = rng.integers(-128, 128, (4, 4, in_c))
    bt, at = optimized.WINOGRAD_BT, optimized.WINOGRAD_AT
    for o in range(out_c):
        m = np.zeros((4, 4), dtype=np.int64)
        for c in range(in_c):
            u = np.array([groups[p, o // 4, c // 4, o % 4, order.index(c % 4)]
                          for p in range(16)], dtype=np.int64).reshape(4, 4)
            m += u * (bt @ d[:, :, c] @ bt.T)
        y4 = at @ m @ at.T
        direct = np.array([[(w[o].astype(np.int64) * d[i:i + 3, j:j + 3, :]).sum()
                            for j in range(2)] for i in range(2)])
        assert np.array_equal(y4, 4 * direct)


def test_winograd_needs_its_sums_inside_int32():
    w = np.full((4, 3, 3, 256), 127, dtype=np.int8)
    assert optimized.winograd_bound(w) < optimized.WINOGRAD_LIMIT
    w = np.full((4, 3, 3, 512), -128, dtype=np.int8)
    assert optimized.winograd_bound(w) >= optimized.WINOGRAD_LIMIT


@pytest.fixture(scope="module")
def runtime_lib():
    compile_args, link_args = host_build_flags()
    return compile_runtime(extra_compile_args=compile_args, extra_link_args=link_args)


def test_planned_scratch_equals_the_kernels_own(runtime_lib):
    """Python's scratch formulas against ekd_*_scratch_size, over many shapes."""
    ffi, lib = runtime_lib
    for depth_c in (1, 3, 4, 5, 16, 63, 64, 65, 300):
        for kh, kw in ((1, 1), (3, 3), (10, 4)):
            dims = [ffi.new("ekd_dims *", d) for d in
                    ({"n": 1, "h": 9, "w": 9, "c": depth_c},
                     {"n": 8, "h": kh, "w": kw, "c": depth_c},
                     {"n": 1, "h": 9, "w": 9, "c": 8})]
            assert lib.ekd_conv2d_im2col_s8_scratch_size(*dims) == \
                optimized.mat_mult_block_bytes(kh * kw * depth_c)
            assert lib.ekd_conv2d_1x1_s8_scratch_size(*dims) == \
                optimized.mat_mult_block_bytes(depth_c)
            assert lib.ekd_conv2d_winograd_s8_scratch_size(*dims) == \
                optimized.winograd_scratch_bytes(depth_c)


def test_generated_code_calls_the_optimized_kernels_with_their_arrays(monkeypatch):
    # The optimized kernels alone: no layer switched to a direct kernel for the arena.
    monkeypatch.setattr(kernel_table, "KERNELS",
                        tuple(k for k in kernel_table.KERNELS if not k.direct))
    g = GraphBuilder("net", (1, 8, 8, 8), 1)
    a = g.conv(g.input, 8)
    b = g.conv(a, 8, kernel=(1, 1), padding="VALID")
    graph = g.build(g.depthwise(b))
    model = generate_model(graph, "net")
    source, weights = model.files["net.c"], model.files["net_weights.c"]
    assert "status = ekd_conv2d_winograd_s8(" in source
    assert "(const int8_t *)net_l0_filter_winograd" in source
    assert "status = ekd_conv2d_1x1_s8(" in source and "net_l1_filter_rows4" in source
    assert "status = ekd_depthwise_conv2d_fast_s8(" in source
    assert "const int16_t net_l0_filter_winograd[" in weights
    # The neutral kernels' arrays are read by every build but the Helium one: unguarded.
    guarded = weights.split("#if EKD_HAVE_MVE")
    assert all("net_l1_filter_rows4" not in part.split("#endif")[0] for part in guarded[1:])
    # Each layer's scratch is at least what its optimized kernel asks (the plan gives the
    # most any of the layer's kernels needs).
    ours = [optimized.winograd_scratch_bytes(8), optimized.mat_mult_block_bytes(8), 0]
    assert all(model.plan.scratch[i].nbytes >= ours[i] for i in range(3))
    assert model.plan.scratch[0].nbytes == optimized.winograd_scratch_bytes(8)
