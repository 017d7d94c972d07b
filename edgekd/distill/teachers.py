"""Teachers: anything that maps a float input batch to logits, frozen.

Two kinds behind one interface (call it with an N x ... float tensor, get N x classes logits):

- ``TorchTeacher``: a torch module, put in eval mode with every parameter frozen and run
  under ``torch.no_grad()``. It exposes ``module`` so feature hints can hook its layers.
- ``OnnxTeacher``: an .onnx file run with onnxruntime on the CPU (one input, first output
  taken as the logits).

``load_teacher(spec, weights)`` builds either from what the CLI is given.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgekd.errors import EdgeKDError, first_line
from edgekd.zoo import load_module


class TorchTeacher:
    """A frozen torch module in eval mode."""

    def __init__(self, module: nn.Module, name: str | None = None) -> None:
        if not isinstance(module, nn.Module):
            raise EdgeKDError(f"teacher: expected a torch.nn.Module, got {type(module).__name__}")
        self.name = name or type(module).__name__
        self.module = module.eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    def to(self, device: torch.device) -> TorchTeacher:
        self.module.to(device)
        return self

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.module.eval()  # stays in eval even if someone called .train() on the module
        with torch.no_grad():
            return self.module(x)


class OnnxTeacher:
    """An ONNX model run by onnxruntime on the CPU; results come back on the input's device."""

    module = None  # no layers to hook: feature hints need a torch teacher

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnxruntime

        self.name = str(path)
        path = Path(path)
        if not path.is_file():
            raise EdgeKDError(f"{path}: no such file")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # torch already uses the cores
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for bad files
            raise EdgeKDError(f"{path}: onnxruntime cannot load it ({first_line(e)})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise EdgeKDError(f"{path}: a teacher takes one input; this model takes {len(inputs)}")
        self.input_name = inputs[0].name
        self.parameter_count = _onnx_parameter_count(path)

    def to(self, device: torch.device) -> OnnxTeacher:
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.detach().to("cpu", torch.float32).numpy()
        try:
            logits = self.session.run(None, {self.input_name: batch})[0]
        except Exception as e:
            raise EdgeKDError(f"{self.name}: onnxruntime failed on an input of shape "
                              f"{batch.shape} ({first_line(e)})") from None
        return torch.from_numpy(np.asarray(logits, np.float32)).to(x.device)


def _onnx_parameter_count(path: Path) -> int:
    """Elements in the model's float initializers (its weights)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return sum(int(np.prod(init.dims)) for init in model.graph.initializer
               if init.data_type == onnx.TensorProto.FLOAT)


Teacher = TorchTeacher | OnnxTeacher


def load_teacher(spec: str | nn.Module | Teacher, weights: str | Path | None = None) -> Teacher:
    """A teacher from an .onnx path, a `pkg.module:factory` (plus optional weights file), a
    torch module, or an existing teacher."""
    if isinstance(spec, (TorchTeacher, OnnxTeacher)):
        return spec
    if isinstance(spec, nn.Module):
        return TorchTeacher(spec)
    text = str(spec)
    if text.endswith(".onnx"):
        if weights is not None:
            raise EdgeKDError(f"{text}: an ONNX teacher carries its weights; "
                              "drop --teacher-weights")
        return OnnxTeacher(text)
    if ":" not in text:
        raise EdgeKDError(f"teacher {text!r}: expected pkg.module:factory or a path to an "
                          ".onnx file")
    return TorchTeacher(load_module(text, weights, role="teacher"), name=text)
