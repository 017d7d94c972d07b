"""Reading UNIDIRECTIONAL_SEQUENCE_LSTM from a .tflite into the IR.

TFLite's LSTM takes 24 inputs (TFLM's order: input; input-to-{input,forget,cell,output}
weights; recurrent-to-{...} weights; three peephole weights; four gate biases; projection
weights and bias; the hidden and cell state variable tensors; four layer-norm
coefficients). edgekd runs what TFLM's integer kernel runs: no peephole, projection, layer
norm or CIFG, int8 input/output/weights, int32 biases, an int16 cell state at a power-of-two
scale. The IR node keeps the 13 constants-and-input (x, 8 weights, 4 biases); the states
become attributes (the hidden state must be quantized as the output, which it is copied to).
"""
from __future__ import annotations

import math

import tflite

from edgekd.errors import ModelFormatError, UnsupportedError
from edgekd.ir import Node

_INPUT, _HIDDEN, _CELL = 0, 18, 19
_WEIGHTS = range(1, 9)
_BIASES = range(12, 16)
_UNSUPPORTED = {9: "peephole", 10: "peephole", 11: "peephole", 16: "projection",
                17: "projection", 20: "layer norm", 21: "layer norm", 22: "layer norm",
                23: "layer norm"}


def read_lstm(reader, op, in_idx: list[int], out_idx: list[int], where: str) -> Node:
    """The IR node of one LSTM operator (``reader`` is frontends.tflite's _Reader)."""
    here = f"{reader.label}: {where}"
    if len(in_idx) != 24 or len(out_idx) != 1:
        raise ModelFormatError(f"{here}{len(in_idx)} inputs and {len(out_idx)} outputs; "
                               "expected 24 inputs and 1 output")
    for i, feature in _UNSUPPORTED.items():
        if in_idx[i] != -1:
            raise UnsupportedError(f"{here}{feature} LSTM is not supported (TFLM's integer "
                                   "LSTM has none)")
    required = [_INPUT, *_WEIGHTS, *_BIASES, _HIDDEN, _CELL]
    if any(in_idx[i] == -1 for i in required):
        raise UnsupportedError(f"{here}CIFG LSTM (no input gate) is not supported")
    x = reader.tensor(in_idx[_INPUT], where)
    weights = [reader.tensor(in_idx[i], where) for i in _WEIGHTS]
    biases = [reader.tensor(in_idx[i], where) for i in _BIASES]
    output = reader.tensor(out_idx[0], where)
    for t, dtype in [(x, "int8"), *[(w, "int8") for w in weights],
                     *[(b, "int32") for b in biases], (output, "int8")]:
        if t.dtype != dtype:
            raise UnsupportedError(f"{here}tensor {t.name!r} is {t.dtype}; expected {dtype}")
        if t.dtype == "int8" and t.quant is None:
            raise ModelFormatError(f"{here}int8 tensor {t.name!r} has no quantization "
                                   "parameters")
    hidden = _state_quant(reader, in_idx[_HIDDEN], "hidden", tflite.TensorType.INT8, here)
    if not output.quant.is_per_tensor(*hidden):
        raise UnsupportedError(f"{here}hidden state tensor {in_idx[_HIDDEN]} is quantized "
                               f"unlike the output {output.name!r}")
    options = reader._options(op, tflite.BuiltinOptions.UnidirectionalSequenceLSTMOptions,
                              tflite.UnidirectionalSequenceLSTMOptions, where, True)
    if options.FusedActivationFunction() != tflite.ActivationFunctionType.TANH:
        raise UnsupportedError(f"{here}cell gate activation "
                               f"{options.FusedActivationFunction()}; TFLM's integer LSTM "
                               "supports TANH")
    return Node(op="UNIDIRECTIONAL_SEQUENCE_LSTM", name="",
                inputs=[t.name for t in (x, *weights, *biases)], outputs=[output.name],
                attrs={"time_major": bool(options.TimeMajor()),
                       "cell_clip": float(options.CellClip()),
                       "cell_scale": _cell_scale(reader, in_idx[_CELL], here)})


def _state_quant(reader, index: int, what: str, type_code: int, here: str
                 ) -> tuple[float, int]:
    """(scale, zero point) of a state variable tensor, which the IR does not hold."""
    if not 0 <= index < reader.num_tensors:
        raise ModelFormatError(f"{here}{what} state tensor index {index} out of range")
    state = reader.subgraph.Tensors(index)
    if state.Type() != type_code:
        raise UnsupportedError(f"{here}{what} state tensor {index} has type {state.Type()}; "
                               f"TFLM's integer LSTM needs {type_code}")
    q = state.Quantization()
    if q is None or q.ScaleLength() != 1:
        raise ModelFormatError(f"{here}{what} state tensor {index} has no per-tensor scale")
    return float(q.Scale(0)), int(q.ZeroPoint(0)) if q.ZeroPointLength() else 0


def _cell_scale(reader, index: int, here: str) -> float:
    """The int16 cell state's scale, which must be a power of two with zero point 0."""
    scale, zero_point = _state_quant(reader, index, "cell", tflite.TensorType.INT16, here)
    if zero_point != 0:
        raise UnsupportedError(f"{here}cell state zero point {zero_point}; TFLM needs 0")
    if not scale > 0 or abs(math.log2(scale) - round(math.log2(scale))) > 1e-3:
        raise UnsupportedError(f"{here}cell state scale {scale} is not a power of two")
    return scale
