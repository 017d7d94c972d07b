"""Recover TFLite's 256-entry int16 sigmoid table by measuring TFLM's int16 TANH.

TFLite's int16 LOGISTIC and TANH (and so the integer LSTM) interpolate a table of
sigmoid(i/24) in unsigned 0.16 that is not a rounding of the exact values, so it cannot be
recomputed from a formula. This script measures it from the installed tflite-micro: an int16
TANH with input scale 2^-12 computes ``(ua*256 + ut*(ub-ua) - 2^23 + 128) >> 8`` from table
entries ua, ub at index ``(3x) >> 8`` and fraction ``ut = (3x) & 255``; the outputs of all x
in one segment pin ua and ub down. It prints the table for edgekd/reference/lstm_tables.py.

Run: python scripts/probe_sigmoid_table.py
"""
from __future__ import annotations

import flatbuffers
import numpy as np
import tflite

from edgekd.verify.tflm import run_tflm

N = 21846  # 3 * 21845 = 65535: every segment of the table


def _tanh_int16_model(n: int) -> bytes:
    b = flatbuffers.Builder(1024)
    tflite.BufferStart(b)
    empty = tflite.BufferEnd(b)
    tensors = []
    for name, scale in (("x", 2.0 ** -12), ("y", 2.0 ** -15)):
        s = b.CreateNumpyVector(np.array([scale], dtype="<f4"))
        z = b.CreateNumpyVector(np.array([0], dtype="<i8"))
        tflite.QuantizationParametersStart(b)
        tflite.QuantizationParametersAddScale(b, s)
        tflite.QuantizationParametersAddZeroPoint(b, z)
        quant = tflite.QuantizationParametersEnd(b)
        label = b.CreateString(name)
        shape = b.CreateNumpyVector(np.array([n], dtype="<i4"))
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, tflite.TensorType.INT16)
        tflite.TensorAddBuffer(b, 0)
        tflite.TensorAddName(b, label)
        tflite.TensorAddQuantization(b, quant)
        tensors.append(tflite.TensorEnd(b))
    inputs = b.CreateNumpyVector(np.array([0], dtype="<i4"))
    outputs = b.CreateNumpyVector(np.array([1], dtype="<i4"))
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, 0)
    tflite.OperatorAddInputs(b, inputs)
    tflite.OperatorAddOutputs(b, outputs)
    op = tflite.OperatorEnd(b)
    tflite.OperatorCodeStart(b)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, tflite.BuiltinOperator.TANH)
    tflite.OperatorCodeAddBuiltinCode(b, tflite.BuiltinOperator.TANH)
    tflite.OperatorCodeAddVersion(b, 3)
    code = tflite.OperatorCodeEnd(b)

    def vector(start, items):
        start(b, len(items))
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    tensor_vec = vector(tflite.SubGraphStartTensorsVector, tensors)
    op_vec = vector(tflite.SubGraphStartOperatorsVector, [op])
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensor_vec)
    tflite.SubGraphAddInputs(b, inputs)
    tflite.SubGraphAddOutputs(b, outputs)
    tflite.SubGraphAddOperators(b, op_vec)
    subgraph = tflite.SubGraphEnd(b)
    sg_vec = vector(tflite.ModelStartSubgraphsVector, [subgraph])
    code_vec = vector(tflite.ModelStartOperatorCodesVector, [code])
    buf_vec = vector(tflite.ModelStartBuffersVector, [empty])
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, code_vec)
    tflite.ModelAddSubgraphs(b, sg_vec)
    tflite.ModelAddBuffers(b, buf_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def measure_table() -> list[int]:
    x = np.arange(N, dtype=np.int16)
    y = run_tflm(_tanh_int16_model(N), x[None])[0][0].astype(np.int64)
    scaled = 3 * x.astype(np.int64)
    segment, frac = scaled >> 8, scaled & 255
    # x = 0 lands on entry 0 with no fraction: tanh(0) = entry 0 - 2^15.
    table = [int(y[0]) + (1 << 15)]
    for k in range(255):
        at = segment == k
        ut, out, ua = frac[at], y[at], table[k]
        steps = [d for d in range(0, 1 << 10)
                 if np.array_equal((ua * 256 + ut * d - (1 << 23) + 128) >> 8, out)]
        if len(steps) != 1:
            raise SystemExit(f"segment {k}: {len(steps)} entries fit TFLM's outputs")
        table.append(ua + steps[0])
    return table


if __name__ == "__main__":
    print(measure_table())
