"""One-LSTM .tflite models, written as TFLite's converter lays them out, for the LSTM tests.

edgekd's writer has no LSTM (it would need int16 variable tensors), so this builds the
flatbuffer directly: 24 operator inputs (peephole, projection and layer-norm slots -1), the
hidden (int8) and cell (int16) states as variable tensors, and the five intermediate
tensors the converter attaches (the four gates at Q3.12 and the hidden state), which TFLM's
kernel ignores.
"""
from __future__ import annotations

from dataclasses import dataclass

import flatbuffers
import numpy as np
import tflite

_INT8, _INT16, _INT32 = tflite.TensorType.INT8, tflite.TensorType.INT16, tflite.TensorType.INT32


@dataclass
class LstmCase:
    batch: int
    time_steps: int
    input_size: int
    units: int
    time_major: bool
    input_q: tuple[float, int]
    hidden_q: tuple[float, int]  # the hidden state's and the output's
    cell_scale: float
    input_weights: list[np.ndarray]  # per gate [units, input_size] int8
    recurrent_weights: list[np.ndarray]  # per gate [units, units] int8
    weight_scales: list[float]  # 8: input weights, then recurrent
    biases: list[np.ndarray]  # per gate [units] int32
    cell_clip: float

    @property
    def input_shape(self) -> tuple[int, int, int]:
        outer = (self.time_steps, self.batch) if self.time_major else (self.batch,
                                                                         self.time_steps)
        return (*outer, self.input_size)


def lstm_model(case: LstmCase) -> bytes:
    b = flatbuffers.Builder(4096)
    buffers = [_buffer(b, None)]
    tensors: list[int] = []

    def tensor(name, shape, type_code, quant, data=None, variable=False) -> int:
        buffer_index = 0
        if data is not None:
            buffers.append(_buffer(b, np.ascontiguousarray(data).tobytes()))
            buffer_index = len(buffers) - 1
        tensors.append(_tensor(b, name, shape, type_code, quant, buffer_index, variable))
        return len(tensors) - 1

    out_shape = (*case.input_shape[:2], case.units)
    x = tensor("x", case.input_shape, _INT8, case.input_q)
    weights = [tensor(f"w{k}", w.shape, _INT8, (case.weight_scales[k], 0), w.astype(np.int8))
               for k, w in enumerate([*case.input_weights, *case.recurrent_weights])]
    biases = [tensor(f"b{k}", (case.units,), _INT32,
                     (float(np.float32(case.input_q[0])) * case.weight_scales[k], 0),
                     bias.astype(np.int32)) for k, bias in enumerate(case.biases)]
    hidden = tensor("hidden", (case.batch, case.units), _INT8, case.hidden_q, variable=True)
    cell = tensor("cell", (case.batch, case.units), _INT16, (case.cell_scale, 0),
                  variable=True)
    # As the converter writes them for the integer LSTM: empty, the gates' float32 without
    # quantization, the hidden state's int8 at its quantization (TFLM refuses any size).
    intermediates = [tensor(f"gate{k}", (0,), tflite.TensorType.FLOAT32, None)
                     for k in range(4)]
    intermediates.append(tensor("effective_hidden", (0,), _INT8, case.hidden_q))
    y = tensor("y", out_shape, _INT8, case.hidden_q)
    inputs = [x, *weights, -1, -1, -1, *biases, -1, -1, hidden, cell, -1, -1, -1, -1]

    tflite.UnidirectionalSequenceLSTMOptionsStart(b)
    tflite.UnidirectionalSequenceLSTMOptionsAddFusedActivationFunction(
        b, tflite.ActivationFunctionType.TANH)
    tflite.UnidirectionalSequenceLSTMOptionsAddCellClip(b, case.cell_clip)
    tflite.UnidirectionalSequenceLSTMOptionsAddTimeMajor(b, case.time_major)
    options = tflite.UnidirectionalSequenceLSTMOptionsEnd(b)
    op_inputs, op_outputs = _ints(b, inputs), _ints(b, [y])
    op_intermediates = _ints(b, intermediates)
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, 0)
    tflite.OperatorAddInputs(b, op_inputs)
    tflite.OperatorAddOutputs(b, op_outputs)
    tflite.OperatorAddIntermediates(b, op_intermediates)
    tflite.OperatorAddBuiltinOptionsType(
        b, tflite.BuiltinOptions.UnidirectionalSequenceLSTMOptions)
    tflite.OperatorAddBuiltinOptions(b, options)
    operator = tflite.OperatorEnd(b)
    code = tflite.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    tflite.OperatorCodeStart(b)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, code)
    tflite.OperatorCodeAddBuiltinCode(b, code)
    tflite.OperatorCodeAddVersion(b, 1)
    opcode = tflite.OperatorCodeEnd(b)

    tensor_vector = _offsets(b, tflite.SubGraphStartTensorsVector, tensors)
    operator_vector = _offsets(b, tflite.SubGraphStartOperatorsVector, [operator])
    graph_inputs, graph_outputs = _ints(b, [x]), _ints(b, [y])
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensor_vector)
    tflite.SubGraphAddInputs(b, graph_inputs)
    tflite.SubGraphAddOutputs(b, graph_outputs)
    tflite.SubGraphAddOperators(b, operator_vector)
    subgraph = tflite.SubGraphEnd(b)
    subgraphs = _offsets(b, tflite.ModelStartSubgraphsVector, [subgraph])
    opcodes = _offsets(b, tflite.ModelStartOperatorCodesVector, [opcode])
    buffer_vector = _offsets(b, tflite.ModelStartBuffersVector, buffers)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, opcodes)
    tflite.ModelAddSubgraphs(b, subgraphs)
    tflite.ModelAddBuffers(b, buffer_vector)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _buffer(b, payload: bytes | None) -> int:
    data = b.CreateByteVector(payload) if payload else None
    tflite.BufferStart(b)
    if data is not None:
        tflite.BufferAddData(b, data)
    return tflite.BufferEnd(b)


def _tensor(b, name, shape, type_code, quant, buffer_index, variable) -> int:
    q = None
    if quant is not None:
        scale = b.CreateNumpyVector(np.array([quant[0]], dtype="<f4"))
        zero_point = b.CreateNumpyVector(np.array([quant[1]], dtype="<i8"))
        tflite.QuantizationParametersStart(b)
        tflite.QuantizationParametersAddScale(b, scale)
        tflite.QuantizationParametersAddZeroPoint(b, zero_point)
        q = tflite.QuantizationParametersEnd(b)
    label, dims = b.CreateString(name), _ints(b, list(shape))
    tflite.TensorStart(b)
    tflite.TensorAddShape(b, dims)
    tflite.TensorAddType(b, type_code)
    tflite.TensorAddBuffer(b, buffer_index)
    tflite.TensorAddName(b, label)
    if q is not None:
        tflite.TensorAddQuantization(b, q)
    tflite.TensorAddIsVariable(b, variable)
    return tflite.TensorEnd(b)


def _ints(b, values: list[int]) -> int:
    return b.CreateNumpyVector(np.array(values, dtype="<i4"))


def _offsets(b, start, items: list[int]) -> int:
    start(b, len(items))
    for item in reversed(items):
        b.PrependUOffsetTRelative(item)
    return b.EndVector()
