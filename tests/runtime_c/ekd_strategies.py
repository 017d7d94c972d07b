"""Hypothesis strategies shared by the runtime kernel tests.

Array contents come from a numpy generator seeded by hypothesis (fast for whole tensors);
the fill pattern is drawn too, so saturating extremes (all -128, all 127, only the two
ends) appear as often as uniform noise.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from edgekd.reference.requantize import quantize_multiplier

FILLS = ("uniform", "extremes", "min", "max", "narrow")


def kernel_settings(max_examples: int) -> settings:
    """Bounded examples, no per-example deadline and no slowness health check: the suite
    shares two cores with other work, and a loaded machine is not a failing kernel."""
    return settings(max_examples=max_examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def int8_arrays(draw, shape: tuple[int, ...]) -> np.ndarray:
    """int8 arrays of ``shape``: uniform, only -128/127, constant -128 or 127, or near 0."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    fill = draw(st.sampled_from(FILLS))
    if fill == "uniform":
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    if fill == "extremes":
        return rng.choice(np.array([-128, 127], dtype=np.int8), size=shape)
    if fill == "min":
        return np.full(shape, -128, dtype=np.int8)
    if fill == "max":
        return np.full(shape, 127, dtype=np.int8)
    return rng.integers(-3, 4, size=shape, dtype=np.int8)


zero_points = st.integers(-128, 127)


@st.composite
def activation_ranges(draw) -> tuple[int, int]:
    """(min, max) clamp ranges: full int8, or any ordered pair inside it."""
    if draw(st.booleans()):
        return -128, 127
    a, b = draw(zero_points), draw(zero_points)
    return min(a, b), max(a, b)


@st.composite
def requantization(draw, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) of real multipliers from 1e-6 to 1e3.

    That range covers right shifts down to -19 and left shifts up to +10; sometimes every
    channel shares one multiplier (per-tensor weights), sometimes one is exactly 0.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    low = draw(st.floats(-6.0, 3.0))
    high = draw(st.floats(low, 3.0))
    exponents = rng.uniform(low, high, size=channels)
    if draw(st.booleans()):
        exponents[:] = exponents[0]
    reals = 10.0 ** exponents
    if draw(st.integers(0, 9)) == 0:
        reals[rng.integers(channels)] = 0.0
    pairs = [quantize_multiplier(float(r)) for r in reals]
    return (np.array([m for m, _ in pairs], dtype=np.int32),
            np.array([s for _, s in pairs], dtype=np.int32))


@st.composite
def biases(draw, channels: int) -> np.ndarray | None:
    """None, small int32 biases (typical), any int32, or int32 extremes (where adding the
    accumulator wraps around, as it does in TFLM's int32 arithmetic)."""
    kind = draw(st.sampled_from(("none", "typical", "full", "extreme")))
    if kind == "none":
        return None
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "extreme":
        near_end = rng.integers(0, 1 << 16, size=channels)
        return np.where(rng.integers(0, 2, size=channels) == 1, (1 << 31) - 1 - near_end,
                        -(1 << 31) + near_end).astype(np.int32)
    bound = 1 << 20 if kind == "typical" else 1 << 31
    return rng.integers(-bound, bound, size=channels, dtype=np.int64).astype(np.int32)
