"""DEPTHWISE_CONV_2D int8 reference, as TFLM's reference_integer_ops::DepthwiseConvPerChannel."""
from __future__ import annotations

import numpy as np

from edgekd.reference.params import ConvParams
from edgekd.reference.requantize import requantize_to_int8
from edgekd.reference.windows import window_patches


def depthwise_conv2d(p: ConvParams, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                     out_shape: tuple[int, ...]) -> np.ndarray:
    """int8 NHWC ``x`` with int8 ``w`` [1, kh, kw, out_c]; int8 ``out_shape``.

    Output channel ``ic * depth_multiplier + m`` reads input channel ``ic``.
    """
    n, oh, ow, out_c = out_shape
    kh, kw = w.shape[1], w.shape[2]
    shifted = x.astype(np.float64) + p.input_offset  # exact, see conv.py
    patches = window_patches(shifted, (kh, kw), (oh, ow), (p.stride_h, p.stride_w),
                             (p.dilation_h, p.dilation_w), (p.pad_h, p.pad_w), fill=0.0)
    source_channel = np.arange(out_c) // p.depth_multiplier
    acc = np.einsum("nyxijc,ijc->nyxc", patches[..., source_channel],
                    w[0].astype(np.float64))
    return requantize_to_int8(acc.astype(np.int64), bias, p.multiplier, p.shift,
                              p.output_offset, p.activation_min, p.activation_max)
