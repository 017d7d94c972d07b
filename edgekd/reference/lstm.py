"""UNIDIRECTIONAL_SEQUENCE_LSTM in TFLM's integer form (int8 activations, int8 weights,
int16 cell state and gates), bit-exact with TFLM's reference kernel.

TFLM's integer LSTM (no peephole, no projection, no layer norm, no CIFG; the intermediate
tensors' quantization is ignored) computes each time step as:

- every gate: an int8 x int8 FULLY_CONNECTED of the step's input (with the gate's int32
  bias) and one of the previous hidden state (no bias), each requantized to int16 at scale
  2^-12 (Q3.12) and added with int16 saturation; then the int16 sigmoid (forget, input and
  output gates) or tanh (the cell gate; TFLite's schema can name no other), in Q0.15;
- cell = sat16(mul(forget, cell) + mul(input, cell_gate)), clipped to +-cell_clip when set;
  the cell state's scale must be a power of two 2^p;
- hidden = int8(mul(tanh(cell), output_gate)) at the hidden state's scale and zero point,
  which is also the step's output (copied, not requantized).

The two states start at their reset values (hidden at its zero point, cell at 0) on every
invoke: TFLM resets variable tensors when the interpreter is reset, and the oracle resets
before each invoke. Batch rows never mix, so batch-major and time-major inputs compute the
same rows; only the layout of the input and output differs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekd.ir import Graph, Node
from edgekd.reference.lstm_tables import SIGMOID_TABLE_UINT16
from edgekd.reference.requantize import multiply_by_quantized_multiplier, quantize_multiplier

GATES = ("input", "forget", "cell", "output")  # TFLite's order of weights and biases
GATE_SCALE = 2.0 ** -12  # Q3.12: what every gate's FULLY_CONNECTED pair produces
ACTIVATED_SCALE = 2.0 ** -15  # Q0.15: sigmoid and tanh outputs
INT16_MIN, INT16_MAX = -32768, 32767

_TABLE = np.array(SIGMOID_TABLE_UINT16, dtype=np.int64)


@dataclass(frozen=True)
class LstmParams:
    """The integers TFLM's Prepare derives for an integer LSTM (one record per node)."""

    batch: int
    time_steps: int
    input_size: int
    units: int
    time_major: bool
    input_offset: int  # -input zero point
    hidden_offset: int  # -hidden state zero point (the recurrent FULLY_CONNECTEDs' input)
    hidden_zero_point: int
    # Per gate in GATES order: requantization of the input and of the recurrent product.
    input_multiplier: tuple[int, int, int, int]
    input_shift: tuple[int, int, int, int]
    recurrent_multiplier: tuple[int, int, int, int]
    recurrent_shift: tuple[int, int, int, int]
    forget_multiplier: int  # forget (Q0.15) x cell -> cell
    forget_shift: int
    update_multiplier: int  # input gate (Q0.15) x cell gate (Q0.15) -> cell
    update_shift: int
    hidden_multiplier: int  # tanh(cell) (Q0.15) x output gate (Q0.15) -> hidden int8
    hidden_shift: int
    clip_cell: int  # 1 when the model's cell_clip is > 0 (even if its bound rounds to 0)
    cell_clip: int  # the int16 bound
    cell_tanh_multiplier: int  # the int16 tanh's input rescaling for the cell state
    cell_tanh_shift: int


def cell_scale_power(cell_scale: float) -> int:
    """log2 of the cell state's scale, which TFLM requires to be a power of two."""
    power = round(math.log2(cell_scale))
    if abs(math.log2(cell_scale) - power) > 1e-3:  # TFLM's CheckedLog2 tolerance
        raise ValueError(f"cell state scale {cell_scale} is not a power of two")
    return power


def prepare_lstm_quant(*, batch: int, time_steps: int, input_size: int, units: int,
                       time_major: bool, input_q: tuple[float, int],
                       hidden_q: tuple[float, int], cell_scale: float,
                       input_weight_scales: tuple[float, ...],
                       recurrent_weight_scales: tuple[float, ...],
                       cell_clip: float) -> LstmParams:
    """TFLM's PrepareGateParametersInteger and CreateLstmCellStateInfo, from float32 scales.

    Weight scales come per gate in GATES order (per-tensor weights; TFLM's LSTM has no
    per-channel form). Scales multiply and divide in double, as TFLM does.
    """
    in_scale, in_zp = float(np.float32(input_q[0])), int(input_q[1])
    h_scale, h_zp = float(np.float32(hidden_q[0])), int(hidden_q[1])
    c_scale = float(np.float32(cell_scale))
    power = cell_scale_power(c_scale)

    def requant(real: float) -> tuple[int, int]:
        return quantize_multiplier(real)

    def gate_pairs(act_scale: float, scales: tuple[float, ...]) -> list[tuple[int, int]]:
        return [requant(act_scale * float(np.float32(s)) / GATE_SCALE) for s in scales]

    inputs = gate_pairs(in_scale, input_weight_scales)
    recurrent = gate_pairs(h_scale, recurrent_weight_scales)
    forget = requant(ACTIVATED_SCALE * c_scale / c_scale)
    update = requant(ACTIVATED_SCALE * ACTIVATED_SCALE / c_scale)
    hidden = requant(ACTIVATED_SCALE * ACTIVATED_SCALE / h_scale)
    # TFLM's CreateLstmCellStateInfo: the bound truncates toward zero; a positive clip
    # below one cell step clamps the cell to 0.
    clip = int(min(max(float(np.float32(cell_clip)) / c_scale, -32768.0), 32767.0))
    # TFLM's lstm_internal::Tanh: the table wants Q3.12 times 3; a cell at 2^p needs a
    # left shift of 15 + p - 3, or a right shift (with multiplier 3) when that is negative.
    left_shift = 15 + power - 3
    tanh_multiplier, tanh_shift = (3, -left_shift) if left_shift < 0 else (3 << left_shift, 0)
    return LstmParams(
        batch=batch, time_steps=time_steps, input_size=input_size, units=units,
        time_major=bool(time_major), input_offset=-in_zp, hidden_offset=-h_zp,
        hidden_zero_point=h_zp,
        input_multiplier=tuple(m for m, _ in inputs), input_shift=tuple(s for _, s in inputs),
        recurrent_multiplier=tuple(m for m, _ in recurrent),
        recurrent_shift=tuple(s for _, s in recurrent),
        forget_multiplier=forget[0], forget_shift=forget[1],
        update_multiplier=update[0], update_shift=update[1],
        hidden_multiplier=hidden[0], hidden_shift=hidden[1],
        clip_cell=int(float(np.float32(cell_clip)) > 0), cell_clip=clip,
        cell_tanh_multiplier=tanh_multiplier, cell_tanh_shift=tanh_shift,
    )


def sigmoid_int16(x: np.ndarray) -> np.ndarray:
    """TFLite's int16 LOGISTIC for a Q3.12 input (multiplier 3, no shift), Q0.15 output."""
    scaled = x.astype(np.int64) * 3
    magnitude = np.abs(scaled)
    segment = magnitude >> 9
    inside = segment < 255
    index = np.minimum(segment, 254)
    low, high = _TABLE[index], _TABLE[index + 1]
    result = np.where(inside, (low << 9) + (magnitude & 0x1FF) * (high - low), 0x7FFF << 10)
    result = np.where(scaled >= 0, result + (1 << 9), (1 << 25) - result + (1 << 9) - 1)
    return (result >> 10).astype(np.int16)


def tanh_int16(x: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """TFLite's int16 TANH: ``(x * multiplier + round) >> shift`` indexes the table."""
    rounding = (1 << (shift - 1)) if shift > 0 else 0
    scaled = (x.astype(np.int64) * multiplier + rounding) >> shift
    magnitude = np.abs(scaled)
    segment = magnitude >> 8
    inside = segment < 255
    index = np.minimum(segment, 254)
    low, high = _TABLE[index], _TABLE[index + 1]
    result = np.where(inside, (low << 8) + (magnitude & 0xFF) * (high - low), 0xFFFF << 8)
    result = np.where(scaled >= 0, result - (1 << 23) + (1 << 7),
                      -result + (1 << 23) + (1 << 7) - 1)
    return (result >> 8).astype(np.int16)


def _saturate(x: np.ndarray, low: int, high: int) -> np.ndarray:
    return np.clip(x, low, high)


def _mbqm(x: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    return multiply_by_quantized_multiplier(x, multiplier, shift).astype(np.int64)


def _gate_fc(x: np.ndarray, offset: int, weights: np.ndarray, bias: np.ndarray | None,
             multiplier: int, shift: int) -> np.ndarray:
    """int8 x int8 FULLY_CONNECTED to int16 at Q3.12 (TFLM's int16-output FC, zero point 0)."""
    acc = (x.astype(np.int64) + offset) @ weights.astype(np.int64).T
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    acc = ((acc + 2**31) % 2**32) - 2**31  # TFLM's int32 accumulator
    return _saturate(_mbqm(acc, multiplier, shift), INT16_MIN, INT16_MAX)


def _mul(a: np.ndarray, b: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    return _mbqm(a.astype(np.int64) * b.astype(np.int64), multiplier, shift)


def unidirectional_sequence_lstm(p: LstmParams, x: np.ndarray,
                                 input_weights: list[np.ndarray],
                                 recurrent_weights: list[np.ndarray],
                                 biases: list[np.ndarray]) -> np.ndarray:
    """One invoke from reset states. ``x`` is [batch, time, input] (or [time, batch, input]
    when time_major); weights and biases per gate in GATES order. Returns int8 in x's layout.
    """
    steps = x if p.time_major else np.swapaxes(x, 0, 1)  # [time, batch, input]
    hidden = np.full((p.batch, p.units), p.hidden_zero_point, dtype=np.int64)
    cell = np.zeros((p.batch, p.units), dtype=np.int64)
    outputs = []
    for x_t in steps:
        gates = []
        for g in range(4):
            pre = (_gate_fc(x_t, p.input_offset, input_weights[g], biases[g],
                            p.input_multiplier[g], p.input_shift[g])
                   + _gate_fc(hidden, p.hidden_offset, recurrent_weights[g], None,
                              p.recurrent_multiplier[g], p.recurrent_shift[g]))
            pre = _saturate(pre, INT16_MIN, INT16_MAX)
            if GATES[g] == "cell":
                gates.append(tanh_int16(pre, 3, 0).astype(np.int64))
            else:
                gates.append(sigmoid_int16(pre).astype(np.int64))
        input_gate, forget_gate, cell_gate, output_gate = gates
        kept = _saturate(_mul(forget_gate, cell, p.forget_multiplier, p.forget_shift),
                         INT16_MIN, INT16_MAX)
        added = _saturate(_mul(input_gate, cell_gate, p.update_multiplier, p.update_shift),
                          INT16_MIN, INT16_MAX)
        cell = _saturate(kept + added, INT16_MIN, INT16_MAX)
        if p.clip_cell:
            cell = _saturate(cell, -p.cell_clip, p.cell_clip)
        squashed = tanh_int16(cell, p.cell_tanh_multiplier, p.cell_tanh_shift)
        hidden = _saturate(p.hidden_zero_point + _mul(squashed, output_gate,
                                                      p.hidden_multiplier, p.hidden_shift),
                           -128, 127)
        outputs.append(hidden.astype(np.int8))
    out = np.stack(outputs)  # [time, batch, units]
    return out if p.time_major else np.swapaxes(out, 0, 1)


def prepare_lstm(graph: Graph, node: Node) -> LstmParams:
    """The LSTM node's record: inputs [x, 4 input weights, 4 recurrent weights, 4 biases]
    (GATES order); the hidden state is quantized as the output, the cell state at
    ``attrs["cell_scale"]``."""
    x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    weights = [graph.tensor(name) for name in node.inputs[1:9]]
    time_major = bool(node.attrs["time_major"])
    steps, batch = x.shape[:2] if time_major else x.shape[1::-1]
    return prepare_lstm_quant(
        batch=batch, time_steps=steps, input_size=x.shape[2], units=y.shape[2],
        time_major=time_major,
        input_q=(x.quant.scalar_scale, x.quant.scalar_zero_point),
        hidden_q=(y.quant.scalar_scale, y.quant.scalar_zero_point),
        cell_scale=node.attrs["cell_scale"],
        input_weight_scales=tuple(w.quant.scalar_scale for w in weights[:4]),
        recurrent_weight_scales=tuple(w.quant.scalar_scale for w in weights[4:]),
        cell_clip=node.attrs["cell_clip"])


def lstm(p: LstmParams, x: np.ndarray, *constants: np.ndarray) -> np.ndarray:
    """The registry's entry: constants as the node's inputs after x."""
    return unidirectional_sequence_lstm(p, x, list(constants[0:4]), list(constants[4:8]),
                                        list(constants[8:12]))
