"""ONNX front end: ``read_onnx`` turns an .onnx file into the int8 ir.Graph.

Two kinds of model are read:

- a **QDQ model** (QuantizeLinear/DequantizeLinear around int8 weights and activations, as
  onnxruntime's ``quantize_static`` writes it) goes straight to the IR with the file's own
  integers and scales (``onnx_qdq``; numpy only, no torch);
- a **float model** becomes the same ``TracedModel`` the torch front end builds, holding real
  ``nn.Conv2d``/``nn.BatchNorm2d``/``nn.Linear`` modules with the file's weights
  (``onnx_float``), and edgekd's PTQ quantizes it with calibration data (``calib``).

Loading is shared and defensive: the bytes are parsed and checked by onnx, external data is
read only from files inside the model's own folder, opsets 13 to 21 are accepted, the batch
dimension is fixed to 1, shapes are inferred and constant subgraphs (initializers, Constant
nodes, Shape -> Gather -> Concat chains feeding Reshape) are folded to arrays. Every failure
is an EdgeKDError whose one line names the file, the node and the problem.

Where onnxruntime's arithmetic differs from the TFLite int8 contract edgekd keeps, an
``OnnxSemanticsWarning`` says so at import (docs/onnx.md lists the cases).
"""
from __future__ import annotations

import importlib
import os

from edgekd.errors import EdgeKDError
from edgekd.frontends.onnx_model import (
    SUPPORTED_OPS, OnnxModel, OnnxNode, OnnxSemanticsWarning, Window, clip_activation,
    load_onnx, pool_kernel, window_of,
)
from edgekd.ir import Graph

# The PTQ of a float model, by name as frontends.READERS names readers: edgekd.quant builds
# on the front ends (the torch tracer), so they never import it.
FLOAT_QUANTIZER = "edgekd.quant.onnx:quantize_float_model"


def read_onnx(source: str | os.PathLike | bytes, calib=None, method: str = "minmax",
              float_io: bool = False, source_name: str | None = None) -> Graph:
    """Read an .onnx model (a path or the file's bytes) into a validated int8 ir.Graph.

    ``calib``: calibration inputs for a float model (array [N, C, H, W] or [N, F] float, a
    dataset spec such as "digits" or a .npz path whose training split is used, or a
    Dataset); ignored, with a warning, for a QDQ model, which carries its own parameters.
    ``method``: PTQ activation ranges ("minmax", "percentile", "mse").
    ``float_io``: float32 input/outputs through QUANTIZE/DEQUANTIZE instead of int8 ones.
    """
    model = load_onnx(source, source_name)
    if model.is_qdq:
        if calib is not None:
            model.warn("the model is already quantized (QDQ); the calibration data is ignored")
        from edgekd.frontends.onnx_qdq import qdq_to_graph

        return qdq_to_graph(model, float_io=float_io)
    if calib is None:
        raise EdgeKDError(f"{model.label}: a float model: int8 quantization needs calibration "
                          "data (--calib DATA, or calib= in load_model)")
    module, function = FLOAT_QUANTIZER.split(":")
    return getattr(importlib.import_module(module), function)(model, calib, method, float_io)


__all__ = ["OnnxModel", "OnnxNode", "OnnxSemanticsWarning", "SUPPORTED_OPS", "Window",
           "clip_activation", "load_onnx", "pool_kernel", "read_onnx", "window_of"]
