"""What the optimized C kernels every target can run need of a layer, and their weights.

Their rows (scratch, write order, which weights they read) are in codegen/kernel_table.py;
this module holds the conditions those rows test and the packing and scratch formulas.

``ekd_conv2d_1x1_s8``, ``ekd_conv2d_im2col_s8``, ``ekd_depthwise_conv2d_fast_s8``,
``ekd_fully_connected_fast_s8`` and ``ekd_add_fast_s8`` (runtime_c/src/) compute the same bytes as the portable reference
kernels, several times faster, and are compiled with the Arm DSP extension
(SXTB16/SMLAD/SMMLAR) where the core has it, as portable C elsewhere: the generated code
stays target-neutral (one layout of the constants, one call, one scratch size per layer).
The convolutions run four output pixels at a time through a matrix kernel and requantize
with ``ekd_requantize.h``; their constants are prepared here:

- ``rows4_filter``: conv weights in blocks of 4 output channels x 4 values, so one
  pointer walks four rows and no kernel loop has a tail;
- the folded bias (``kernels.folded_bias``: bias + input_offset * sum of the channel's
  weights), so the kernels multiply raw int8 inputs, a padded tap holding the zero point.

They need what the fast requantization needs, which is checked here offline (the kernels
check the multipliers and shifts again, but not the bound, which takes a pass over the
weights):

- every multiplier >= 0 and every shift <= -1 (a real multiplier below 1/2), or a zero
  multiplier (TFLite's (0, 0) for a multiplier too small to represent);
- ``|bias[c]| + 255 * sum(|w_c|) < 2^30`` for every output channel ``c``: TFLM's int32
  accumulator, ``bias + sum w * (x + input_offset)`` with ``|x + input_offset| <= 255``,
  stays where SMMLAR of twice the accumulator is exact;
- a dot product of at most ``MAX_DEPTH`` values (depthwise: taps).

ADD needs TFLM's int8 parameters (left_shift 20, multipliers below one, an output shift
of at least one bit right). A layer that misses any of these keeps the portable reference
kernel.
"""
from __future__ import annotations


import numpy as np

from edgekd.ir import Graph, Node

ACC_LIMIT = 1 << 30  # EKD_REQUANTIZE_FAST_ACC_LIMIT
WINOGRAD_LIMIT = 1 << 31  # int32: no sum of the Winograd kernel may reach it
WINOGRAD_MAX_IN_C = 4096  # EKD_WINOGRAD_MAX_IN_C
# Below 8 input channels the transforms outweigh the multiplications saved: im2col is
# faster (ResNet-8's first layer, 3 channels: 2.7 against 4.1 instructions per MAC on a
# Cortex-M4, 4.4 against 4.9 on a Cortex-M3).
WINOGRAD_MIN_IN_C = 8
MAX_DEPTH = 32768  # EKD_MAT_MULT_MAX_DEPTH
MAX_INPUT_OFFSET = 255  # |x + input_offset| <= 255 for int8 x and an int8 zero point


def mat_mult_block_bytes(depth: int) -> int:
    """EKD_MAT_MULT_BLOCK_BYTES (runtime_c/src/ekd_mat_mult_s8.h): four int16 columns of
    ``depth`` values, in groups of four."""
    return (depth + 3) // 4 * 4 * 4 * 2


def accumulator_bound(weights: np.ndarray, bias: np.ndarray | None,
                      depthwise: bool) -> np.ndarray:
    """Per output channel, the largest |accumulator| any int8 input can produce:
    |bias| + 255 * sum |w| (int64)."""
    w = np.abs(np.asarray(weights, dtype=np.int64))
    sums = w.reshape(-1, w.shape[-1]).sum(axis=0) if depthwise else \
        w.reshape(w.shape[0], -1).sum(axis=1)
    b = np.zeros_like(sums) if bias is None else np.abs(np.asarray(bias, dtype=np.int64))
    return b.reshape(-1) + MAX_INPUT_OFFSET * sums


def winograd_ok(graph: Graph, node: Node, p) -> bool:
    """Whether a CONV_2D that meets ``fast_conv_ok`` may run Winograd F(2x2, 3x3): 3x3,
    stride and dilation 1, enough input channels, and no int32 sum that could overflow."""
    w = graph.tensor(node.inputs[1])
    _, kh, kw, in_c = w.shape
    return (node.op == "CONV_2D" and kh == 3 and kw == 3 and p.stride_h == 1
            and p.stride_w == 1 and p.dilation_h == 1 and p.dilation_w == 1
            and WINOGRAD_MIN_IN_C <= in_c <= WINOGRAD_MAX_IN_C
            and winograd_bound(w.data) < WINOGRAD_LIMIT)


def fast_conv_ok(graph: Graph, node: Node, p) -> bool:
    """Whether a CONV_2D or DEPTHWISE_CONV_2D meets what every optimized convolution
    needs (the module docstring): int8 data and weights, the fast requantization's
    multipliers and accumulator bound, a dot product of at most MAX_DEPTH values."""
    if node.op not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return False
    x = graph.tensor(node.inputs[0])
    w = graph.tensor(node.inputs[1])
    bias_name = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
    bias = graph.tensor(bias_name).data if bias_name else None
    if x.dtype != "int8" or w.dtype != "int8" or w.data is None or len(w.shape) != 4:
        return False
    if not requantization_fast(p):
        return False
    depthwise = node.op == "DEPTHWISE_CONV_2D"
    if np.any(accumulator_bound(w.data, bias, depthwise) >= ACC_LIMIT):
        return False
    _, kh, kw, in_c = w.shape
    if depthwise:
        return p.depth_multiplier == 1 and kh * kw <= MAX_DEPTH
    return kh * kw * in_c <= MAX_DEPTH


def requantization_fast(p) -> bool:
    """Whether prepared conv or FC parameters meet the fast requantization's needs:
    multipliers >= 0, shifts <= -1 (or a zero multiplier), |input_offset| <= 128."""
    return not (np.any(p.multiplier < 0) or np.any((p.shift > -1) & (p.multiplier != 0))
                or abs(p.input_offset) > 128)


def symmetric_fc(graph: Graph, node: Node) -> bool:
    """Whether a FULLY_CONNECTED has int8 data and constant 2-D int8 weights with zero
    point 0 (what every optimized FC kernel needs: its bias folds the input offset)."""
    if node.op != "FULLY_CONNECTED":
        return False
    x, w = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
    return (x.dtype == "int8" and w.dtype == "int8" and w.data is not None
            and len(w.shape) == 2 and w.quant is not None
            and not np.any(w.quant.zero_point))


def fast_fc_ok(graph: Graph, node: Node, p) -> bool:
    """Whether a FULLY_CONNECTED may call ekd_fully_connected_fast_s8: symmetric weights,
    the fast requantization's multipliers and accumulator bound (``p``: its prepared
    parameters), depth <= MAX_DEPTH."""
    if not symmetric_fc(graph, node):
        return False
    w = graph.tensor(node.inputs[1])
    bias_name = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
    bias = graph.tensor(bias_name).data if bias_name else None
    return (requantization_fast(p) and w.shape[1] <= MAX_DEPTH
            and not np.any(accumulator_bound(w.data, bias, False) >= ACC_LIMIT))


def direct_ok(graph: Graph, node: Node, p, channel_multiple: int) -> bool:
    """Whether a CONV_2D may call a direct kernel (ekd_conv2d_direct_s8: input channels a
    multiple of 4; the Helium one: of 16): the optimized kernels' conditions, dilation 1."""
    if node.op != "CONV_2D" or not fast_conv_ok(graph, node, p):
        return False
    in_c = graph.tensor(node.inputs[1]).shape[3]
    return p.dilation_h == 1 and p.dilation_w == 1 and in_c % channel_multiple == 0


def add_fast_ok(graph: Graph, node: Node, p) -> bool:
    """Whether an ADD has TFLM's int8 parameters (ekd_add_fast_s8, or fused): the
    prepared parameters ``p`` (reference.params.prepare_add) of int8 operands."""
    if any(graph.tensor(n).dtype != "int8" for n in (*node.inputs[:2], node.outputs[0])):
        return False
    return not (p.left_shift > 20 or min(p.input1_multiplier, p.input2_multiplier,
                                         p.output_multiplier) < 0
                or max(p.input1_shift, p.input2_shift) > 0 or p.output_shift > -1)


def direct_block_bytes(depth: int) -> int:
    """ekd_conv2d_direct_s8_scratch_size on an Arm DSP build: four pixels' windows of
    ``depth`` values unpacked to int16 once, shared by every output channel."""
    return 8 * depth


def rows4_filter(weights: np.ndarray) -> np.ndarray:
    """Conv weights [out_c, kh, kw, in_c] packed "rows4", as ekd_conv2d_1x1_s8 and
    ekd_conv2d_im2col_s8 read them: the rows (output channels, each kh * kw * in_c values)
    in groups of four, each group as blocks of 4 rows x 4 values (16 bytes, row after
    row), zero-padded to whole groups and blocks: [ceil(out_c/4)][ceil(depth/4)][4][4]."""
    w = np.asarray(weights, dtype=np.int8)
    rows = w.reshape(w.shape[0], -1)
    out_c, depth = rows.shape
    padded = np.zeros(((out_c + 3) // 4 * 4, (depth + 3) // 4 * 4), dtype=np.int8)
    padded[:out_c, :depth] = rows
    groups = padded.reshape(padded.shape[0] // 4, 4, padded.shape[1] // 4, 4)
    return np.ascontiguousarray(groups.transpose(0, 2, 1, 3)).reshape(-1)


# Winograd F(2x2, 3x3) with integer transforms: 4 * (a 2x2 block of the correlation of a
# 4x4 input tile d with a 3x3 filter g) = AT [(G2 g G2^T) * (BT d BT^T)] AT^T, exactly
# (G2 = 2G scales the filter transform to integers; the factor 4 divides out exactly).
WINOGRAD_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
WINOGRAD_G2 = np.array([[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]])
WINOGRAD_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])
# Order of four channels inside a group, as SXTB16 unpacks four int8 inputs.
WINOGRAD_GROUP_ORDER = (0, 2, 1, 3)


def winograd_transformed(weights: np.ndarray) -> np.ndarray:
    """G2 g G2^T of every (output, input) channel's 3x3 filter g: int64
    [16 positions (row-major 4x4)][out_c][in_c]. Magnitudes below 4 * 9 * 128."""
    w = np.asarray(weights, dtype=np.int64)  # [out_c, 3, 3, in_c]
    u = np.einsum("ak,okmi,bm->aboi", WINOGRAD_G2, w, WINOGRAD_G2)
    return u.reshape(16, w.shape[0], w.shape[3])


def winograd_filter(weights: np.ndarray) -> np.ndarray:
    """The transformed filter as ekd_conv2d_winograd_s8 reads it, int16: for each of the
    16 positions, "rows4" blocks of 4 output x 4 input channels (16 values, output channel
    after output channel), the input channels of a block in WINOGRAD_GROUP_ORDER, zero
    past the last channel: [16][ceil(out_c/4)][ceil(in_c/4)][4][4]."""
    u = winograd_transformed(weights)
    _, out_c, in_c = u.shape
    padded = np.zeros((16, (out_c + 3) // 4 * 4, (in_c + 3) // 4 * 4), dtype=np.int16)
    padded[:, :out_c, :in_c] = u
    blocks = padded.reshape(16, padded.shape[1] // 4, 4, padded.shape[2] // 4, 4)
    blocks = blocks[..., list(WINOGRAD_GROUP_ORDER)]
    return np.ascontiguousarray(blocks.transpose(0, 1, 3, 2, 4)).reshape(-1)


def winograd_bound(weights: np.ndarray) -> int:
    """The largest magnitude any int32 sum of the Winograd kernel can reach: an output
    transform adds 9 products' sums, each at most 512 (the input transform of int8
    values) times the channel's transformed weights."""
    u = np.abs(winograd_transformed(weights))
    return int(9 * 512 * u.sum(axis=2).max())


def winograd_scratch_bytes(in_c: int) -> int:
    """EKD_WINOGRAD_SCRATCH_BYTES (runtime_c/src/ekd_winograd_s8.h): the transformed
    inputs of two tiles, 16 positions x 2 x in_c int16 values in groups of 4 channels."""
    return 16 * ((in_c + 3) // 4) * 2 * 4 * 2
