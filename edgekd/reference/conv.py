"""CONV_2D int8 reference, as TFLM's reference_integer_ops::ConvPerChannel."""
from __future__ import annotations

import numpy as np

from edgekd.reference.params import ConvParams
from edgekd.reference.requantize import requantize_to_int8
from edgekd.reference.windows import window_patches


def conv2d(p: ConvParams, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
           out_shape: tuple[int, ...]) -> np.ndarray:
    """int8 NHWC ``x`` convolved with int8 ``w`` [out_c, kh, kw, in_c]; int8 ``out_shape``.

    Accumulates ``w * (x + input_offset)`` over the window positions inside the image.
    """
    n, oh, ow, out_c = out_shape
    kh, kw = w.shape[1], w.shape[2]
    # float64 holds every partial sum exactly (|sum| < 2^53 for any realistic window) and
    # lets the product run on BLAS instead of numpy's slow integer matmul.
    shifted = x.astype(np.float64) + p.input_offset
    patches = window_patches(shifted, (kh, kw), (oh, ow), (p.stride_h, p.stride_w),
                             (p.dilation_h, p.dilation_w), (p.pad_h, p.pad_w), fill=0.0)
    columns = patches.reshape(n * oh * ow, kh * kw * x.shape[3])
    acc = columns @ w.reshape(out_c, -1).astype(np.float64).T
    acc = acc.astype(np.int64).reshape(n, oh, ow, out_c)
    return requantize_to_int8(acc, bias, p.multiplier, p.shift, p.output_offset,
                              p.activation_min, p.activation_max)
