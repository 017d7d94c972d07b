"""One table from each IR op to its three implementations.

For every op: how its integer parameters are prepared offline (reference/params.py), the
numpy reference that defines its result (reference/<op>.py) and the C kernel that computes
it on the device (runtime_c/include/edgekd/ekd.h). The interpreter and the code generator
both look ops up here, so adding an op touches the op's own files and this table only
(docs/design.md, "Adding an op").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from edgekd.errors import UnsupportedError
from edgekd.ir import Graph, Node
from edgekd.reference import params
from edgekd.reference import activations
from edgekd.reference.add import add
from edgekd.reference.conv import conv2d
from edgekd.reference.depthwise_conv import depthwise_conv2d
from edgekd.reference.dynamic_fully_connected import dynamic_fully_connected
from edgekd.reference.elementwise import maximum, minimum, mul, prelu, sub
from edgekd.reference.fully_connected import fully_connected
from edgekd.reference.layout import (
    concatenation, gather, layout_attrs, pad, strided_slice, tile, transpose,
)
from edgekd.reference.lstm import lstm, prepare_lstm
from edgekd.reference.pooling import average_pool, max_pool
from edgekd.reference.quantize import dequantize, quantize
from edgekd.reference.reduce import arg_max, arg_min, reduce_max, reduce_sum
from edgekd.reference.reshape import reshape
from edgekd.reference.resize import (
    prepare_resize_bilinear, prepare_resize_nearest, resize_bilinear, resize_nearest,
)
from edgekd.reference.softmax import softmax


@dataclass(frozen=True)
class OpSpec:
    """How one IR op is prepared, computed by the reference, and called in C.

    ``prepare(graph, node)`` returns the op's parameter record (None for RESHAPE, which
    has no parameters). The reference is called as
    ``reference([params,] *inputs[:num_inputs], [out_shape])``: params when the op has a
    prepare function, missing optional inputs as None, the output shape when
    ``takes_out_shape``; ``num_inputs`` -1: every input (CONCATENATION). ``c_kernel`` is
    None for ops the generated C does not call a kernel for (RESHAPE aliases its input
    buffer); it is the portable kernel, its faster variants are rows of the kernel table
    (edgekd/codegen/kernel_table.py).
    """

    op: str
    prepare: Callable[[Graph, Node], Any] | None
    reference: Callable[..., np.ndarray]
    c_kernel: str | None
    num_inputs: int
    takes_out_shape: bool
    # The layer template (templates/layers/<template>.c.j2) the code generator renders.
    template: str
    # The dtypes of the kernel's computed operands: (inputs, outputs); constants are
    # checked by the IR.
    dtypes: tuple[str, str] = ("int8", "int8")

    def evaluate(self, op_params: Any, inputs: list[np.ndarray | None],
                 out_shape: tuple[int, ...]) -> np.ndarray:
        """Run the reference on the node's input arrays (constants included)."""
        count = len(inputs) if self.num_inputs < 0 else self.num_inputs
        args: list[Any] = list(inputs[:count])
        args += [None] * (count - len(args))
        if self.prepare is not None:
            args.insert(0, op_params)
        if self.takes_out_shape:
            args.append(tuple(out_shape))
        return self.reference(*args)


OP_SPECS: dict[str, OpSpec] = {spec.op: spec for spec in (
    OpSpec("CONV_2D", params.prepare_conv, conv2d, "ekd_conv2d_s8", 3, True, "conv"),
    OpSpec("DEPTHWISE_CONV_2D", params.prepare_conv, depthwise_conv2d,
           "ekd_depthwise_conv2d_s8", 3, True, "conv"),
    OpSpec("FULLY_CONNECTED", params.prepare_fully_connected, fully_connected,
           "ekd_fully_connected_s8", 3, True, "fully_connected"),
    OpSpec("DYNAMIC_FULLY_CONNECTED", params.prepare_dynamic_fully_connected,
           dynamic_fully_connected, "ekd_dynamic_fully_connected_f32", 3, True,
           "dynamic_fully_connected", ("float32", "float32")),
    OpSpec("AVERAGE_POOL_2D", params.prepare_pool, average_pool, "ekd_avgpool_s8", 1, True,
           "pool"),
    OpSpec("MAX_POOL_2D", params.prepare_pool, max_pool, "ekd_maxpool_s8", 1, True, "pool"),
    OpSpec("ADD", params.prepare_add, add, "ekd_add_s8", 2, False, "add"),
    OpSpec("RESHAPE", None, reshape, None, 1, True, "reshape"),
    OpSpec("SOFTMAX", params.prepare_softmax, softmax, "ekd_softmax_s8", 1, False, "softmax"),
    OpSpec("QUANTIZE", params.prepare_quantize, quantize, "ekd_quantize_f32_s8", 1, False,
           "quantize", ("float32", "int8")),
    OpSpec("DEQUANTIZE", params.prepare_quantize, dequantize, "ekd_dequantize_s8_f32", 1,
           False, "quantize", ("int8", "float32")),
    OpSpec("UNIDIRECTIONAL_SEQUENCE_LSTM", prepare_lstm, lstm, "ekd_lstm_s8", 13, False,
           "lstm"),
    OpSpec("MEAN", params.prepare_reduce_sum, reduce_sum, "ekd_reduce_sum_s8", 1, True,
           "reduce"),
    OpSpec("SUM", params.prepare_reduce_sum, reduce_sum, "ekd_reduce_sum_s8", 1, True,
           "reduce"),
    OpSpec("REDUCE_MAX", params.prepare_axis, reduce_max, "ekd_reduce_max_s8", 1, True,
           "reduce"),
    OpSpec("ARG_MAX", params.prepare_axis, arg_max, "ekd_arg_max_s8", 1, False, "reduce",
           ("int8", "int32")),
    OpSpec("ARG_MIN", params.prepare_axis, arg_min, "ekd_arg_min_s8", 1, False, "reduce",
           ("int8", "int32")),
    OpSpec("MUL", params.prepare_mul, mul, "ekd_mul_s8", 2, False, "broadcast"),
    OpSpec("SUB", params.prepare_sub, sub, "ekd_sub_s8", 2, False, "broadcast"),
    OpSpec("MINIMUM", None, minimum, "ekd_minimum_s8", 2, False, "broadcast"),
    OpSpec("MAXIMUM", None, maximum, "ekd_maximum_s8", 2, False, "broadcast"),
    OpSpec("PRELU", params.prepare_prelu, prelu, "ekd_prelu_s8", 2, False, "broadcast"),
    # Every int8 -> int8 activation runs as a 256-entry table in C (reference/activations.py).
    # REQUANTIZE takes uint8 on either side too (the model boundary): bytes to bytes.
    OpSpec("REQUANTIZE", params.prepare_requantize, activations.rescale, "ekd_lut_s8", 1,
           False, "lut", (("int8", "uint8"), ("int8", "uint8"))),
    OpSpec("RELU", params.prepare_relu, activations.rescale, "ekd_lut_s8", 1, False, "lut"),
    OpSpec("RELU6", params.prepare_relu6, activations.clamp, "ekd_lut_s8", 1, False, "lut"),
    OpSpec("LEAKY_RELU", params.prepare_leaky_relu, activations.leaky_relu, "ekd_lut_s8", 1,
           False, "lut"),
    OpSpec("LOGISTIC", params.prepare_fixed_point_activation, activations.logistic,
           "ekd_lut_s8", 1, False, "lut"),
    OpSpec("TANH", params.prepare_fixed_point_activation, activations.tanh, "ekd_lut_s8", 1,
           False, "lut"),
    OpSpec("HARD_SWISH", params.prepare_hard_swish, activations.hard_swish, "ekd_lut_s8", 1,
           False, "lut"),
    # The layout ops: the C copies bytes as codegen/layout.py plans (ekd_copy_s8).
    OpSpec("PAD", layout_attrs, pad, "ekd_copy_s8", 1, True, "copy"),
    OpSpec("CONCATENATION", layout_attrs, concatenation, "ekd_copy_s8", -1, True, "copy"),
    OpSpec("STRIDED_SLICE", layout_attrs, strided_slice, "ekd_copy_s8", 1, True, "copy"),
    OpSpec("TRANSPOSE", layout_attrs, transpose, "ekd_copy_s8", 1, False, "copy"),
    OpSpec("TILE", layout_attrs, tile, "ekd_copy_s8", 1, False, "copy"),
    OpSpec("GATHER", layout_attrs, gather, "ekd_copy_s8", 1, True, "copy"),
    OpSpec("RESIZE_NEAREST_NEIGHBOR", prepare_resize_nearest, resize_nearest,
           "ekd_resize_nearest_s8", 1, False, "resize_nearest"),
    OpSpec("RESIZE_BILINEAR", prepare_resize_bilinear, resize_bilinear,
           "ekd_resize_bilinear_s8", 1, False, "resize_bilinear"),
)}


def op_spec(op: str) -> OpSpec:
    """The OpSpec of an IR op; UnsupportedError naming the known ops otherwise."""
    try:
        return OP_SPECS[op]
    except KeyError:
        raise UnsupportedError(
            f"op {op} has no reference implementation; supported: {', '.join(OP_SPECS)}"
        ) from None
