"""REQUANTIZE (TFLite's QUANTIZE with an integer input): the reference against TFLM, for
uint8 inputs and outputs around an int8 graph and int8 -> int8 rescaling."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekd.reference.params import prepare_requantize
from edgekd.reference.activations import lookup_table, rescale

from .single_op import assert_matches_tflm, requantize_graph
from .strategies import scales

_ZERO_POINTS = {"int8": st.integers(-128, 127), "uint8": st.integers(0, 255)}
_PAIRS = [("uint8", "int8"), ("int8", "uint8"), ("int8", "int8")]


@st.composite
def requantize_cases(draw):
    in_dtype, out_dtype = draw(st.sampled_from(_PAIRS))
    in_scale = draw(scales)
    # Mostly the converter's case (the same scale), else a ratio within 2^-8 .. 2^8.
    out_scale = draw(st.one_of(st.just(in_scale), st.floats(-8.0, 8.0).map(
        lambda e: float(np.float32(in_scale * 2.0 ** e)))))
    return (in_dtype, (in_scale, draw(_ZERO_POINTS[in_dtype])),
            out_dtype, (out_scale, draw(_ZERO_POINTS[out_dtype])))


@given(case=requantize_cases())
@settings(max_examples=150, deadline=None)
def test_requantize_matches_tflm(case):
    in_dtype, in_q, out_dtype, out_q = case
    every_value = np.arange(256).astype(np.int64) + (-128 if in_dtype == "int8" else 0)
    batch = every_value.astype(in_dtype).reshape(1, 1, 256)
    assert_matches_tflm(requantize_graph((1, 256), in_dtype, in_q, out_dtype, out_q), batch)


def test_uint8_to_int8_with_zero_points_128_apart_flips_the_sign_bit():
    graph = requantize_graph((256,), "uint8", (0.02, 130), "int8", (0.02, 2))
    p = prepare_requantize(graph, graph.nodes[0])
    x = np.arange(256, dtype=np.uint8)
    assert rescale(p, x).tobytes() == (x ^ 0x80).tobytes()


def test_the_table_maps_every_input_byte_to_the_output_byte_for_every_dtype_pair():
    # ekd_lut_s8 reads each input byte as int8 and indexes table[byte + 128].
    for in_dtype, out_dtype in _PAIRS:
        graph = requantize_graph((256,), in_dtype, (0.02, 7), out_dtype, (0.03, 9))
        p = prepare_requantize(graph, graph.nodes[0])
        x = np.arange(256).astype(np.uint8).view(in_dtype)
        table = lookup_table(rescale, p, in_dtype)
        by_kernel = table[x.view(np.int8).astype(np.int64) + 128]
        assert by_kernel.tobytes() == rescale(p, x).tobytes()
