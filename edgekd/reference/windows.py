"""Sliding windows over NHWC tensors, shared by the convolution and pooling references.

TFLM's reference kernels skip window positions outside the image. Filling those positions
with a value that cannot change the result (0 for sums of ``x + input_offset``, the int8
minimum for max) gives the same integers while letting numpy work on whole arrays.
"""
from __future__ import annotations

import numpy as np


def window_patches(x: np.ndarray, kernel: tuple[int, int], out_hw: tuple[int, int],
                   stride: tuple[int, int], dilation: tuple[int, int], pad: tuple[int, int],
                   fill: float | int) -> np.ndarray:
    """Every output position's window: [n, out_h, out_w, kh, kw, c], dtype of ``x``.

    ``pad`` is the leading (top, left) padding; trailing padding is whatever the output
    size needs. Positions outside the input hold ``fill``.
    """
    n, h, w, c = x.shape
    (kh, kw), (oh, ow) = kernel, out_hw
    (sh, sw), (dh, dw), (ph, pw) = stride, dilation, pad
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    padded = np.full((n, max(need_h, ph + h), max(need_w, pw + w), c), fill, dtype=x.dtype)
    padded[:, ph:ph + h, pw:pw + w, :] = x
    patches = np.empty((n, oh, ow, kh, kw, c), dtype=x.dtype)
    for ky in range(kh):
        y0 = ky * dh
        for kx in range(kw):
            x0 = kx * dw
            patches[:, :, :, ky, kx, :] = padded[:, y0:y0 + (oh - 1) * sh + 1:sh,
                                                 x0:x0 + (ow - 1) * sw + 1:sw, :]
    return patches
