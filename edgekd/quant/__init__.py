"""int8 quantization of torch models: post-training calibration and quantization-aware
training, both to TFLite's int8 scheme and TFLM's integer arithmetic.

- ``quantize(model, calib_data, method)``: PTQ -> ir.Graph
- ``prepare_qat(model, example_input)`` -> a trainable QuantModel; ``train_qat`` fine-tunes
  it; ``convert(qat_model)`` -> ir.Graph with exactly the integers it trained with.
"""
from edgekd.quant.convert import convert
from edgekd.quant.model import QuantModel
from edgekd.quant.ptq import calibrate, quantize
from edgekd.quant.qat import prepare_qat, train_qat

__all__ = ["QuantModel", "calibrate", "convert", "prepare_qat", "quantize", "train_qat"]
