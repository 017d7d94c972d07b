"""ekd_avgpool_s8 and ekd_maxpool_s8 (runtime_c/src/ekd_{avg,max}pool_s8.c) against the
numpy references average_pool and max_pool."""
from __future__ import annotations

import numpy as np
import pytest
from .ekd_strategies import activation_ranges, int8_arrays, kernel_settings
from hypothesis import given
from hypothesis import strategies as st

from edgekd.reference.params import PoolParams
from edgekd.reference.pooling import average_pool, max_pool
from edgekd.shapes import conv_output_size, same_padding


@st.composite
def pool_cases(draw):
    geometry = {}
    for axis in ("h", "w"):
        window = draw(st.integers(1, 5))
        stride = draw(st.integers(1, 3))
        padding = draw(st.sampled_from(("SAME", "VALID")))
        size = draw(st.integers(window if padding == "VALID" else 1, window + 8))
        out_size = conv_output_size(size, window, stride, 1, padding)
        pad = same_padding(size, window, stride, 1, out_size) if padding == "SAME" else 0
        geometry[axis] = (window, stride, size, out_size, pad)
    (fh, sh, ih, oh, ph), (fw, sw, iw, ow, pw) = geometry["h"], geometry["w"]
    batches = draw(st.integers(1, 2))
    channels = draw(st.integers(1, 8))
    act_min, act_max = draw(activation_ranges())
    p = PoolParams(stride_h=sh, stride_w=sw, filter_h=fh, filter_w=fw, pad_h=ph, pad_w=pw,
                   activation_min=act_min, activation_max=act_max)
    x = draw(int8_arrays((batches, ih, iw, channels)))
    return p, x, (batches, oh, ow, channels)


@pytest.mark.parametrize("kernel", ["average_pool", "max_pool"])
@kernel_settings(300)
@given(case=pool_cases())
def test_pool_matches_reference_bytes(runtime, kernel, case):
    p, x, out_shape = case
    reference = {"average_pool": average_pool, "max_pool": max_pool}[kernel]
    expected = reference(p, x, out_shape)
    actual = getattr(runtime, kernel)(p, x, out_shape)
    assert actual.dtype == expected.dtype == np.int8
    assert np.array_equal(actual, expected)


def test_average_pool_rounds_halves_away_from_zero(runtime):
    """Means of 1.5 and -1.5 (two values per window) round to 2 and -2, as TFLM does."""
    x = np.array([1, 2, -1, -2], dtype=np.int8).reshape(1, 1, 4, 1)
    p = PoolParams(stride_h=1, stride_w=2, filter_h=1, filter_w=2, pad_h=0, pad_w=0,
                   activation_min=-128, activation_max=127)
    out = runtime.average_pool(p, x, (1, 1, 2, 1))
    assert out.ravel().tolist() == [2, -2]
