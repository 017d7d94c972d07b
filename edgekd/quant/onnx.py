"""PTQ of a float ONNX model: ``frontends/onnx_float.py`` turns it into the torch front
end's ``TracedModel``, and this quantizer calibrates, quantizes and converts it exactly as
it does a torch model. ``frontends/onnx.py`` calls it by name (``FLOAT_QUANTIZER``) for a
float model: the front ends sit below edgekd.quant and never import it.
"""
from __future__ import annotations

from edgekd.errors import EdgeKDError, first_line
from edgekd.frontends.onnx_float import calibration_inputs, trace_onnx
from edgekd.frontends.onnx_model import OnnxModel
from edgekd.ir import Graph
from edgekd.quant.convert import convert
from edgekd.quant.model import QuantModel
from edgekd.quant.ptq import calibrate


def quantize_float_model(model: OnnxModel, calib, method: str, float_io: bool) -> Graph:
    """PTQ of a float ONNX model on ``calib`` (see read_onnx) -> the int8 graph."""
    traced = trace_onnx(model)
    data = calibration_inputs(model, calib)
    quant_model = QuantModel(traced).eval()
    try:
        calibrate(quant_model, data, method)
    except (ValueError, RuntimeError) as error:  # inf/NaN reached a range despite the checks
        raise EdgeKDError(f"{model.label}: calibration met non-finite activations "
                          f"({first_line(error)[:200]})") from None
    try:
        return convert(quant_model, float_io=float_io)
    except EdgeKDError as error:
        raise EdgeKDError(f"{model.label}: {error}") from None
