"""QuantModel: a traced network run layer by layer in float, calibration or quantized mode.

PTQ calibrates one, QAT trains one, and ``convert`` writes the int8 IR from one. It owns a
deep copy of the user's model, so quantizing never changes the model passed in.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from edgekd.errors import EdgeKDError
from edgekd.frontends.torch_fx import TracedModel, trace
from edgekd.quant.layers import MODES, QInput, QValue, build_layer
from edgekd.quant.observers import ActivationRange


class QuantModel(nn.Module):
    """Runs the layers of a TracedModel; ``mode`` is "float", "observe" or "quant"."""

    def __init__(self, traced: TracedModel) -> None:
        super().__init__()
        self.traced = traced  # plain attribute: the layers below own the torch modules
        self.input_quant = QInput()
        self.layers = nn.ModuleList(build_layer(layer) for layer in traced.layers)
        self.mode = "quant"

    @property
    def device(self) -> torch.device:
        return self.input_quant.range.low.device  # every QuantModel has this buffer

    def set_mode(self, mode: str) -> "QuantModel":
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} not in {MODES}")
        self.mode = mode
        return self

    def ranges(self) -> list[ActivationRange]:
        return [m for m in self.modules() if isinstance(m, ActivationRange)]

    def forward_values(self, x: torch.Tensor) -> dict[str, QValue]:
        """Every value of the network for a batch ``x`` (NCHW float)."""
        values = {self.traced.input: self.input_quant(x, self.mode)}
        for spec, layer in zip(self.traced.layers, self.layers):
            args = [values[name] for name in spec.inputs]
            values[spec.output] = layer(*args, self.mode)
        return values

    def forward(self, x: torch.Tensor):
        """The model's output(s) as real float tensors (dequantized in quant mode)."""
        values = self.forward_values(x)
        outputs = [values[name].real for name in self.traced.outputs]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def build_quant_model(model: nn.Module, example_input) -> QuantModel:
    """Trace a copy of ``model`` (example_input: a batch, NCHW) into a QuantModel, in eval
    mode (activation ranges move only in train mode)."""
    source = copy.deepcopy(model).float()
    example = as_tensor(example_input)[:2]
    return QuantModel(trace(source, example)).eval()


def as_tensor(data) -> torch.Tensor:
    """A float32 tensor from an array, tensor or Split-like object with ``.x``."""
    data = getattr(data, "x", data)
    if isinstance(data, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
    if isinstance(data, torch.Tensor):
        return data.detach().float()
    raise EdgeKDError(f"expected an array or tensor of inputs, got {type(data).__name__}")


def batches(data: torch.Tensor, batch_size: int):
    for start in range(0, len(data), batch_size):
        yield data[start:start + batch_size]
