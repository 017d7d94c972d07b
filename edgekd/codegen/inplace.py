"""How far a layer's output may overlap its input in the arena: the "lead" of a kernel.

A window kernel (convolution, depthwise convolution, pooling) that writes its output in
raster order (batch, row, column) can run with its output in the same bytes as its
input, shifted down by a lead: output byte ``i`` lives at ``input_start - lead + i``. It
is safe when no write lands on an input byte that a later step still reads.

Each kernel states its write order as a ``RasterOrder``:

- ``group``: at most this many consecutive output pixels are in flight at once;
- ``reads_first``: whether all reads of a group happen before its first write (a
  kernel that holds a pixel in registers or scratch), or reads and writes interleave
  (a kernel that writes each channel once computed, while later channels still read);
- ``channel_major``: whether the kernel sweeps the pixels once per group of channels
  (``ekd_depthwise_conv2d_fast_s8``: four channels through every pixel, then the next
  four) instead of once for all. Such a sweep stays clear of the channels later sweeps
  still read only when the lead is a whole number of pixels, so the lead is rounded up
  to a multiple of the pixel's bytes as well as of the arena alignment
  (``kernels.inplace_lead``).

For output pixels ``0 .. N-1`` let ``low(a)`` be the lowest input pixel read by any
output pixel ``>= a``. Then, with ``Ci`` and ``Co`` the input and output bytes per pixel:

- interleaved: a write to pixel ``q`` may happen while the group holding ``q`` (which
  may start at ``q - group + 1``) still reads, so
  ``lead >= (a + group) * Co - low(a) * Ci`` for every ``a``;
- reads first: writes up to the end ``b`` of a group happen after that group's reads,
  so ``lead >= b * Co - low(b) * Ci`` for every ``b``.

The lead may be negative (the output may start after the input). The planner places the
output at ``input_offset - align_up(lead)``; ``tests/codegen/test_inplace.py`` runs the
kernels at exactly that placement, so a lead that is too small fails there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RasterOrder:
    """A kernel's write order: raster order, ``group`` pixels in flight, reads first or
    interleaved, one sweep or one per channel group (see the module docstring)."""

    group: int
    reads_first: bool
    channel_major: bool = False


@dataclass(frozen=True)
class Window:
    """The geometry of a window op on NHWC tensors; ``pad`` is the leading padding."""

    in_shape: tuple[int, int, int, int]
    out_shape: tuple[int, int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad: tuple[int, int]


def lowest_reads(w: Window) -> np.ndarray:
    """For each output pixel (flattened), the lowest input pixel (flattened) its window
    reads; a window entirely in the padding reads nothing (a huge value)."""
    n, in_h, in_w, _ = w.in_shape
    _, out_h, out_w, _ = w.out_shape
    none = np.iinfo(np.int64).max // 4

    def first_valid(out_size: int, stride: int, pad: int, dilation: int, kernel: int,
                    in_size: int) -> np.ndarray:
        origin = np.arange(out_size, dtype=np.int64) * stride - pad
        # The first tap k with origin + k * dilation >= 0, if it is inside the input.
        k = np.where(origin < 0, (-origin + dilation - 1) // dilation, 0)
        pos = origin + k * dilation
        return np.where((k < kernel) & (pos < in_size), pos, -1)

    rows = first_valid(out_h, w.stride[0], w.pad[0], w.dilation[0], w.kernel[0], in_h)
    cols = first_valid(out_w, w.stride[1], w.pad[1], w.dilation[1], w.kernel[1], in_w)
    low = rows[:, None] * in_w + cols[None, :]
    low = np.where((rows[:, None] < 0) | (cols[None, :] < 0), none, low)
    batches = np.arange(n, dtype=np.int64)[:, None, None] * (in_h * in_w)
    return (batches + low[None]).reshape(-1)


def raster_lead(w: Window, order: RasterOrder) -> int:
    """The smallest lead (bytes, may be negative) at which a kernel with write order
    ``order`` may place its output below its input (int8 tensors)."""
    in_c, out_c = w.in_shape[3], w.out_shape[3]
    low = lowest_reads(w)
    pixels = low.size
    # suffix[a] = min(low[a:]); suffix[pixels] = "no more reads"
    suffix = np.empty(pixels + 1, dtype=np.int64)
    suffix[pixels] = np.iinfo(np.int64).max // 4
    suffix[:pixels] = np.minimum.accumulate(low[::-1])[::-1]
    if order.reads_first:
        ends = np.arange(1, pixels, dtype=np.int64)  # a group ending at b < pixels
        needs = ends * out_c - suffix[1:pixels] * in_c
    else:
        starts = np.arange(pixels, dtype=np.int64)
        ends = np.minimum(starts + order.group, pixels)
        needs = ends * out_c - suffix[:pixels] * in_c
    finite = needs[needs > -(np.iinfo(np.int64).max // 8)]
    if finite.size == 0:  # nothing read after any write: any overlap is safe
        return -w.out_shape[0] * w.out_shape[1] * w.out_shape[2] * out_c
    return int(finite.max())
