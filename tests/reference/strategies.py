"""Hypothesis strategies for quantization parameters, shared by the per-op tests."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

# Scales are float32 in a model; draw them log-uniformly over the range models use.
scales = st.floats(-5.0, 0.0).map(lambda e: float(np.float32(10.0 ** e)))
zero_points = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))
quants = st.tuples(scales, zero_points)
activations = st.sampled_from(["NONE", "RELU", "RELU6"])
paddings = st.sampled_from(["SAME", "VALID"])
seeds = st.integers(0, 2**32 - 1)
# log2 of input_scale * weight_scale / output_scale: from "every output rounds to the zero
# point" up to "most outputs saturate"; TFLite's converter stays below 1.
log2_multipliers = st.floats(-24.0, 0.0)


@st.composite
def broadcast_cases(draw, max_dim: int = 5):
    """Two operand shapes that broadcast (numpy's rules) to an output of up to 4 dims;
    half the time the first is the output's shape (the common case in models)."""
    out = draw(st.lists(st.integers(1, max_dim), min_size=1, max_size=4).map(tuple))

    def operand():
        rank = draw(st.integers(1, len(out)))
        return tuple(n if draw(st.booleans()) else 1 for n in out[len(out) - rank:])
    first, second = operand(), operand()
    if draw(st.booleans()):
        first = out
    return first, second


def output_scale(in_scale: float, weight_scale: float, log2_multiplier: float) -> float:
    """The output scale that gives the layer the drawn effective multiplier, but at least
    1e-8: below about 3e-9 the RELU6 bound overflows int32 and TFLM rejects the model
    (test_conv checks that the reference rejects it too)."""
    return float(np.float32(max(in_scale * weight_scale / 2.0 ** log2_multiplier, 1e-8)))


def channel_scales(rng: np.random.Generator, base: float, channels: int,
                   per_channel: bool) -> np.ndarray:
    """Weight scales: one, or one per channel spread over a factor of 10 around ``base``."""
    if not per_channel:
        return np.array([base], dtype=np.float32)
    return (base * 10.0 ** rng.uniform(-0.5, 0.5, channels)).astype(np.float32)
