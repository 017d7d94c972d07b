"""The in-place lead (edgekd/codegen/inplace.py): worked examples, and a brute-force
simulation of the write orders that shows each lead is safe and one byte less is not.

The kernels themselves run in place at these leads in tests/runtime_c/
test_inplace_kernels.py (host) and test_mve_kernels.py (Cortex-M55 under QEMU).
"""
from __future__ import annotations

import numpy as np
import pytest

from edgekd.codegen.inplace import RasterOrder, Window, lowest_reads, raster_lead
from edgekd.shapes import conv_output_size, same_padding


def window(in_hw, channels, kernel, stride=(1, 1), dilation=(1, 1), padding="SAME",
           out_c=None, batches=1) -> Window:
    out_hw, pad = [], []
    for axis in range(2):
        out = conv_output_size(in_hw[axis], kernel[axis], stride[axis], dilation[axis], padding)
        out_hw.append(out)
        pad.append(same_padding(in_hw[axis], kernel[axis], stride[axis], dilation[axis], out)
                   if padding == "SAME" else 0)
    return Window((batches, *in_hw, channels), (batches, *out_hw, out_c or channels),
                  tuple(kernel), tuple(stride), tuple(dilation), tuple(pad))


def test_pointwise_same_channels():
    w = window((25, 5), 64, (1, 1))
    # A pixel read before it is written: exactly over the input.
    assert raster_lead(w, RasterOrder(1, reads_first=True)) == 0
    # Written channel by channel while the pixel is still read: one pixel ahead.
    assert raster_lead(w, RasterOrder(1, reads_first=False)) == 64
    # Four pixels in flight: four pixels ahead.
    assert raster_lead(w, RasterOrder(4, reads_first=False)) == 256
    assert raster_lead(w, RasterOrder(4, reads_first=True)) == 0


def test_3x3_same_padding_keeps_one_row_and_a_pixel():
    w = window((32, 32), 16, (3, 3))
    # Output pixel p needs input from p - W - 1 on: W + 1 pixels of lead when a pixel is
    # read before it is written, one more when they interleave, G - 1 more per group.
    assert raster_lead(w, RasterOrder(1, True)) == (32 + 1) * 16
    assert raster_lead(w, RasterOrder(1, False)) == (32 + 2) * 16
    assert raster_lead(w, RasterOrder(4, False)) == (32 + 5) * 16
    assert raster_lead(w, RasterOrder(4, True)) == (32 + 1) * 16


def test_strided_and_shrinking_outputs_may_start_at_or_after_the_input():
    # 1x1 stride 2, 16 -> 32 channels (ResNet-8's shortcut): output row y is half as
    # many pixels as the two input rows it consumes.
    w = window((32, 32), 16, (1, 1), stride=(2, 2), padding="VALID", out_c=32)
    assert raster_lead(w, RasterOrder(1, False)) == 32
    assert raster_lead(w, RasterOrder(1, True)) <= 0
    # A global average pool reads everything before its only write.
    pool = window((8, 8), 64, (8, 8), padding="VALID")
    assert raster_lead(pool, RasterOrder(1, True)) < 0


def test_lowest_reads_skips_padding_and_counts_batches():
    w = window((4, 5), 3, (3, 3), batches=2)
    low = lowest_reads(w)
    assert low.shape == (2 * 4 * 5,)
    assert low[0] == 0  # (0, 0): window from (-1, -1), first valid tap (0, 0)
    assert low[6] == 0  # (1, 1): window from (0, 0)
    assert low[7] == 1  # (1, 2): window from (0, 1)
    assert low[20] == 20  # batch 1 starts at input pixel 20
    # A window entirely in the padding reads nothing.
    empty = Window((1, 2, 2, 1), (1, 4, 4, 1), (1, 1), (1, 1), (1, 1), (1, 1))
    assert lowest_reads(empty)[0] > 10**9


def simulate_is_safe(w: Window, order: RasterOrder, lead: int) -> bool:
    """Run the worst case the write order allows, byte ranges only: output at offset 0,
    input at ``lead``; interleaved groups write all their outputs before their last
    read, and every group alignment is tried (a kernel may start a group anywhere, as at
    a row's border). True when no read sees a written byte."""
    n, in_h, in_w, in_c = w.in_shape
    _, out_h, out_w, out_c = w.out_shape
    pixels = n * out_h * out_w

    def reads(q: int) -> list[int]:
        b, rest = divmod(q, out_h * out_w)
        y, x = divmod(rest, out_w)
        found = []
        for ky in range(w.kernel[0]):
            iy = y * w.stride[0] - w.pad[0] + ky * w.dilation[0]
            for kx in range(w.kernel[1]):
                ix = x * w.stride[1] - w.pad[1] + kx * w.dilation[1]
                if 0 <= iy < in_h and 0 <= ix < in_w:
                    found.append((b * in_h + iy) * in_w + ix)
        return found

    needed = [reads(q) for q in range(pixels)]
    for start in range(order.group):
        bounds = [0] + list(range(start or order.group, pixels, order.group)) + [pixels]
        bounds = sorted(set(bounds))
        written = 0
        for a, b in zip(bounds, bounds[1:]):
            if not order.reads_first:
                written = b * out_c  # worst case: the group's writes come first
            for q in range(a, b):
                for p in needed[q]:
                    lo, hi = lead + p * in_c, lead + (p + 1) * in_c
                    if max(lo, 0) < min(hi, written):  # overlaps the written bytes
                        return False
            written = b * out_c
    return True


CASES = [
    window((5, 4), 3, (3, 3)),
    window((6, 5), 2, (3, 3), stride=(2, 2)),
    window((6, 6), 2, (2, 3), dilation=(2, 1)),
    window((5, 5), 4, (1, 1), out_c=2),
    window((5, 5), 2, (1, 1), out_c=5, stride=(2, 1), padding="VALID"),
    window((7, 3), 1, (4, 2), stride=(2, 2), out_c=3),
    window((4, 4), 3, (2, 2), stride=(2, 2), padding="VALID"),
    window((3, 4), 2, (3, 3), batches=2, out_c=3),
]
ORDERS = [RasterOrder(1, True), RasterOrder(1, False), RasterOrder(4, False),
          RasterOrder(4, True), RasterOrder(2, False)]


@pytest.mark.parametrize("order", ORDERS, ids=str)
@pytest.mark.parametrize("w", CASES, ids=lambda w: f"{w.in_shape}->{w.out_shape}k{w.kernel}")
def test_lead_is_safe_and_one_byte_less_is_not(w, order):
    lead = raster_lead(w, order)
    assert simulate_is_safe(w, order, lead)
    out_bytes = int(np.prod(w.out_shape))
    if lead > -out_bytes:  # else nothing is read after a write: no lead is too small
        assert not simulate_is_safe(w, order, lead - 1)


def simulate_channel_passes(w: Window, passes: int, lead: int) -> bool:
    """A kernel that takes ``passes`` channels through every pixel, then the next ones
    (the fast depthwise kernel), byte by byte: output at offset 0, input at ``lead``.
    True when no read sees a written byte."""
    n, in_h, in_w, channels = w.in_shape
    _, out_h, out_w, _ = w.out_shape
    written: set[int] = set()
    for c0 in range(0, channels, passes):
        group = range(c0, min(c0 + passes, channels))
        for q in range(n * out_h * out_w):
            b, rest = divmod(q, out_h * out_w)
            y, x = divmod(rest, out_w)
            for ky in range(w.kernel[0]):
                iy = y * w.stride[0] - w.pad[0] + ky * w.dilation[0]
                for kx in range(w.kernel[1]):
                    ix = x * w.stride[1] - w.pad[1] + kx * w.dilation[1]
                    if 0 <= iy < in_h and 0 <= ix < in_w:
                        p = (b * in_h + iy) * in_w + ix
                        if any(lead + p * channels + c in written for c in group):
                            return False
            written.update(q * channels + c for c in group)
    return True


@pytest.mark.parametrize("channels", [3, 4, 6, 11, 12, 20, 32])
def test_channel_major_lead_keeps_later_sweeps_inputs(channels):
    from edgekd.codegen.kernel_table import KernelVariant
    from edgekd.codegen.prepare import variants_lead

    w = window((5, 4), channels, (3, 3))
    sweep = KernelVariant(None, "k", RasterOrder(1, False, channel_major=True))
    lead = variants_lead(w, [sweep])
    assert lead % 16 == 0 and lead % channels == 0
    assert simulate_channel_passes(w, 4, lead)
    if channels == 11:  # the pixel-major lead overwrites the later sweeps' inputs
        pixel_lead = -(-raster_lead(w, RasterOrder(1, False)) // 16) * 16
        assert not simulate_channel_passes(w, 4, pixel_lead)
