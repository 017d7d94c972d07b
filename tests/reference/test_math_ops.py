"""The arithmetic and activation ops: the reference against TFLM on one-op models.

Shapes, axes (keep_dims both ways), scales, zero points, activations and broadcasting
are drawn; the unary activations see every one of the 256 input codes each time, which
is also every entry of the table the C kernel runs (ekd_lut_s8).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.errors import UnsupportedError
from edgekd.reference.activations import ALL_CODES
from edgekd.reference.params import prepare_hard_swish, prepare_reduce_sum

from .single_op import (
    arg_graph,
    assert_matches_tflm,
    binary_graph,
    int8_batch,
    reduce_graph,
    unary_graph,
)
from .strategies import activations, broadcast_cases, quants, scales, seeds, zero_points

shapes = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)


@st.composite
def axes_of(draw, shape):
    dims = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True))
    return tuple(sorted(dims))


def _scale_near(draw, scale: float, spread: float = 6.0) -> float:
    return float(np.float32(scale * 2.0 ** draw(st.floats(-spread, spread))))


@st.composite
def reduce_cases(draw):
    shape = draw(st.one_of(shapes, st.just((1, 7, 9, 16)), st.just((1, 1, 1, 300))))
    axis = draw(st.one_of(axes_of(shape), st.just(tuple(range(1, len(shape) - 1)) or (0,))))
    in_q = draw(quants)
    return dict(shape=shape, axis=axis, keep_dims=draw(st.booleans()), in_q=in_q,
                out_q=(_scale_near(draw, in_q[0]), draw(zero_points)))


@pytest.mark.parametrize("op", ["MEAN", "SUM"])
@given(case=reduce_cases(), seed=seeds)
@settings(max_examples=60, deadline=None)
def test_mean_and_sum_match_tflm(op, case, seed):
    graph = reduce_graph(op, case["shape"], case["axis"], case["keep_dims"], case["in_q"],
                         case["out_q"])
    assert_matches_tflm(graph, int8_batch(np.random.default_rng(seed), case["shape"]))


@given(case=reduce_cases(), seed=seeds)
@settings(max_examples=40, deadline=None)
def test_reduce_max_matches_tflm(case, seed):
    graph = reduce_graph("REDUCE_MAX", case["shape"], case["axis"], case["keep_dims"],
                         case["in_q"], case["in_q"])
    assert_matches_tflm(graph, int8_batch(np.random.default_rng(seed), case["shape"]))


@pytest.mark.parametrize("op", ["ARG_MAX", "ARG_MIN"])
@given(shape=shapes, axis_seed=st.integers(0, 3), seed=seeds)
@settings(max_examples=30, deadline=None)
def test_arg_max_and_min_match_tflm(op, shape, axis_seed, seed):
    rng = np.random.default_rng(seed)
    # Few distinct values, so that ties (the first index wins) are common.
    batch = rng.integers(-2, 2, size=(4, *shape)).astype(np.int8)
    assert_matches_tflm(arg_graph(op, shape, axis_seed % len(shape), (0.1, 0)), batch)


def _every_code(shape=(2, 128)) -> np.ndarray:
    return ALL_CODES.reshape(shape)[None]


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
@given(in_q=quants)
@settings(max_examples=80, deadline=None)
def test_fixed_point_activations_match_tflm(op, in_q):
    out_q = (1 / 256, -128) if op == "LOGISTIC" else (1 / 128, 0)
    assert_matches_tflm(unary_graph(op, (2, 128), in_q, out_q), _every_code())


@given(in_q=quants, data=st.data())
@settings(max_examples=120, deadline=None)
def test_hard_swish_matches_tflm(in_q, data):
    # TFLite needs output scale >= input scale / 128; hard-swish's range is about the
    # input's, so draw around it.
    out_scale = max(_scale_near(data.draw, in_q[0], 4.0), float(np.float32(in_q[0] / 128)))
    graph = unary_graph("HARD_SWISH", (2, 128), in_q, (out_scale, data.draw(zero_points)))
    assert_matches_tflm(graph, _every_code())


def test_hard_swish_output_scale_below_input_over_128_is_refused():
    graph = unary_graph("HARD_SWISH", (4,), (1.0, 0), (1.0 / 512, 0))
    with pytest.raises(UnsupportedError, match="HARD_SWISH.*output scale"):
        prepare_hard_swish(graph, graph.nodes[0])


@pytest.mark.parametrize("op", ["RELU", "REQUANTIZE", "LEAKY_RELU"])
@given(in_q=quants, data=st.data())
@settings(max_examples=200, deadline=None)
def test_rescaling_activations_match_tflm(op, in_q, data):
    out_q = (_scale_near(data.draw, in_q[0]), data.draw(zero_points))
    attrs = {"alpha": data.draw(st.one_of(st.floats(0.0, 1.0), st.floats(-2.0, 2.0)))} \
        if op == "LEAKY_RELU" else {}
    assert_matches_tflm(unary_graph(op, (2, 128), in_q, out_q, **attrs), _every_code())


@given(in_q=quants)
@settings(max_examples=40, deadline=None)
def test_relu6_matches_tflm(in_q):
    assert_matches_tflm(unary_graph("RELU6", (2, 128), in_q, in_q), _every_code())


@given(shapes_=broadcast_cases(), q1=quants, q2=quants, data=st.data(), seed=seeds)
@settings(max_examples=120, deadline=None)
def test_mul_matches_tflm(shapes_, q1, q2, data, seed):
    # At least 1e-8: below about 3e-9 the RELU6 bound overflows int32 and TFLM (and the
    # reference) refuse the model.
    out_scale = max(_scale_near(data.draw, q1[0] * q2[0] * 128, 8.0), 1e-8)
    graph = binary_graph("MUL", *shapes_, q1, q2, (out_scale, data.draw(zero_points)),
                         activation=data.draw(activations))
    rng = np.random.default_rng(seed)
    assert_matches_tflm(graph, int8_batch(rng, shapes_[0]), int8_batch(rng, shapes_[1]))


@pytest.mark.parametrize("op", ["SUB", "ADD"])
@given(shapes_=broadcast_cases(), q1=quants, q2=quants, data=st.data(), seed=seeds)
@settings(max_examples=100, deadline=None)
def test_sub_and_broadcast_add_match_tflm(op, shapes_, q1, q2, data, seed):
    out_scale = _scale_near(data.draw, max(q1[0], q2[0]), 8.0)
    graph = binary_graph(op, *shapes_, q1, q2, (out_scale, data.draw(zero_points)),
                         activation=data.draw(activations))
    rng = np.random.default_rng(seed)
    assert_matches_tflm(graph, int8_batch(rng, shapes_[0]), int8_batch(rng, shapes_[1]))


@pytest.mark.parametrize("op", ["MINIMUM", "MAXIMUM"])
@given(shapes_=broadcast_cases(), q=quants, seed=seeds)
@settings(max_examples=40, deadline=None)
def test_minimum_and_maximum_match_tflm(op, shapes_, q, seed):
    rng = np.random.default_rng(seed)
    assert_matches_tflm(binary_graph(op, *shapes_, q, q, q),
                        int8_batch(rng, shapes_[0]), int8_batch(rng, shapes_[1]))


@given(shapes_=broadcast_cases(), q=quants, qa=quants, data=st.data(), seed=seeds)
@settings(max_examples=80, deadline=None)
def test_prelu_matches_tflm(shapes_, q, qa, data, seed):
    out_q = (_scale_near(data.draw, q[0]), data.draw(zero_points))
    rng = np.random.default_rng(seed)
    assert_matches_tflm(binary_graph("PRELU", *shapes_, q, qa, out_q),
                        int8_batch(rng, shapes_[0]), int8_batch(rng, shapes_[1]))


def test_global_average_pool_mean_folds_one_over_count_into_the_multiplier():
    graph = reduce_graph("MEAN", (1, 4, 4, 2), (1, 2), True, (0.5, 0), (0.5, 0))
    p = prepare_reduce_sum(graph, graph.nodes[0])
    # input/output 1.0 = 2^30 * 2^(1 - 31); 16 values: 4 more bits, the quotient exact.
    assert (p.multiplier, p.shift, p.sum_bias) == ((1 << 30) << 4 >> 4, 1 - 4, 0)


@given(scale=scales)
@settings(max_examples=20, deadline=None)
def test_mean_of_constant_input_is_that_input(scale):
    graph = reduce_graph("MEAN", (1, 3, 5, 4), (1, 2), False, (scale, 7), (scale, 7))
    x = np.full((1, 1, 3, 5, 4), -37, dtype=np.int8)
    assert_matches_tflm(graph, x[0][None])


@pytest.mark.parametrize("shape, axis, in_q, out_q", [
    ((1, 128, 128, 3), (1, 2), (0.02, -128), (0.0001, 5)),  # 16384 values, output far finer
    ((1, 1, 1, 3000), (3,), (0.5, 127), (8.0, -128)),  # thousands of channels, coarser out
    ((2, 3, 1, 1), (0, 1, 2, 3), (1e-5, 0), (1e-5, 0)),  # every dim
])
def test_mean_of_adversarial_windows_matches_tflm(shape, axis, in_q, out_q):
    rng = np.random.default_rng(0)
    for keep_dims in (False, True):
        graph = reduce_graph("MEAN", shape, axis, keep_dims, in_q, out_q)
        assert_matches_tflm(graph, int8_batch(rng, shape, samples=1))


def test_mul_of_thousands_of_channels_matches_tflm():
    rng = np.random.default_rng(1)
    graph = binary_graph("MUL", (1, 2, 2, 2048), (1, 1, 1, 2048), (0.05, -3), (1 / 256, -128),
                         (0.02, 10), activation="NONE")
    assert_matches_tflm(graph, int8_batch(rng, (1, 2, 2, 2048), samples=1),
                        int8_batch(rng, (1, 1, 1, 2048), samples=1))


def test_hard_swish_output_multiplier_on_an_int16_rounding_boundary():
    # hires / output scale is 0.011841536 in float32, whose Q31 multiplier is exactly
    # 24833.5 * 2^16: TFLM's int16 multiplier is 24833 (the double quotient), not 24834.
    out_scale = float(np.float32(2.0 ** -0.6))
    graph = unary_graph("HARD_SWISH", (2, 128), (1.0, -128), (out_scale, -128))
    assert prepare_hard_swish(graph, graph.nodes[0]).output_multiplier == 24833
    assert_matches_tflm(graph, _every_code())


@pytest.mark.parametrize("op", ["SUB", "MUL", "ADD"])
def test_binary_ops_on_every_pair_of_codes_match_tflm(op):
    """All 65536 input pairs per draw: a multiplier that differs from TFLM's in its last
    bits (a float32 quotient where TFLM divides in double) shows up here."""
    rng = np.random.default_rng(3)
    x1 = np.repeat(np.arange(-128, 128, dtype=np.int8), 256).reshape(256, 256)
    for _ in range(25):
        s1 = float(np.float32(10 ** rng.uniform(-3, 1)))
        s2 = float(np.float32(s1 * 2 ** rng.uniform(-3, 3)))
        so = float(np.float32((s1 * s2 * 64 if op == "MUL" else s1) * 2 ** rng.uniform(-3, 3)))
        zps = rng.integers(-128, 128, 3)
        graph = binary_graph(op, (256, 256), (256, 256), (s1, int(zps[0])), (s2, int(zps[1])),
                             (so, int(zps[2])), activation="NONE")
        assert_matches_tflm(graph, x1[None], x1.T.copy()[None])
