"""Quantization-aware training: a model whose forward pass is the int8 integer path.

``prepare_qat`` traces the model into a QuantModel in quant mode (see quant/layers.py for
what the forward and backward passes compute). Activation ranges start from a min-max
calibration pass (``calib_data``) or, without one, from the first training batch; they then
follow an exponential moving average of each batch's range until they freeze
(``freeze_ranges_after``). BatchNorm layers train on batch statistics until frozen
(``freeze_batchnorm``); from then on training runs the exact integer path.

``train_qat`` is a cross-entropy fine-tuning loop for a trained float model: it freezes
BatchNorm from the start (the float model's running statistics are already right) and the
ranges halfway. ``convert`` (quant/convert.py) writes the int8 graph with exactly the
integers the trained model used.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgekd.errors import EdgeKDError
from edgekd.quant.evaluate import torch_accuracy
from edgekd.quant.model import QuantModel, as_tensor, build_quant_model
from edgekd.quant.ptq import calibrate

EMA_MOMENTUM = 0.01


def prepare_qat(model: nn.Module, example_input, *, calib_data=None,
                momentum: float = EMA_MOMENTUM) -> QuantModel:
    """A trainable copy of ``model`` that fake-quantizes as the int8 model computes, in
    train mode; its BatchNorm layers use batch statistics until ``freeze_batchnorm``.

    ``example_input``: a batch of inputs (N x C x H x W) to trace with. ``calib_data``:
    inputs for a min-max calibration pass that initializes the activation ranges.
    ``momentum``: weight of each batch in the ranges' moving averages.
    """
    quant_model = build_quant_model(model, example_input)
    for r in quant_model.ranges():
        r.momentum = momentum
    if calib_data is not None:
        calibrate(quant_model, calib_data, "minmax")
    return quant_model.set_mode("quant").train()


def freeze_ranges_after(model: QuantModel, steps: int) -> None:
    """Stop moving activation ranges ``steps`` training steps from now."""
    for r in model.ranges():
        r.freeze_after = int(r.steps) + steps


def freeze_batchnorm(model: QuantModel) -> None:
    """Fold BatchNorm with its running statistics from now on, in training too."""
    for layer in model.layers:
        if getattr(layer, "bn", None) is not None:
            layer.bn_frozen.fill_(True)


def logits(model: QuantModel, x: torch.Tensor) -> torch.Tensor:
    """The scores the loss should see: the input of a final softmax, else the output."""
    values = model.forward_values(x)
    last = model.traced.layers[-1]
    name = last.inputs[0] if last.kind == "softmax" else model.traced.outputs[0]
    return values[name].real


def train_qat(model: QuantModel, x, labels, *, epochs: int = 3, lr: float = 1e-4,
              batch_size: int = 64, freeze_fraction: float = 0.5,
              freeze_batchnorm_fraction: float = 0.0, val=None,
              progress: Callable[[str], None] | None = None, seed: int = 0) -> QuantModel:
    """Fine-tune a QAT model with cross-entropy on (x, labels) (NCHW float, int64).

    Activation ranges freeze after ``freeze_fraction`` of the steps, BatchNorm statistics
    after ``freeze_batchnorm_fraction`` (0: from the start). ``val``: an optional
    (x, labels) pair whose accuracy is reported after each epoch through ``progress``.
    """
    if not isinstance(model, QuantModel):
        raise EdgeKDError("train_qat expects a model from edgekd.prepare_qat")
    if labels is None:
        raise EdgeKDError("quantization-aware training needs labels")
    x = as_tensor(x)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    device = model.device
    steps_per_epoch = math.ceil(len(x) / batch_size)
    freeze_ranges_after(model, int(freeze_fraction * epochs * steps_per_epoch))
    batchnorm_step = int(freeze_batchnorm_fraction * epochs * steps_per_epoch)
    step = 0
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    model.set_mode("quant")
    for epoch in range(epochs):
        model.train()
        total_loss, correct = 0.0, 0
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            if step == batchnorm_step:
                freeze_batchnorm(model)
            step += 1
            batch, target = x[idx].to(device), y[idx].to(device)
            scores = logits(model, batch)
            loss = F.cross_entropy(scores, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(idx)
            correct += int((scores.argmax(dim=1) == target).sum())
        if progress is not None:
            line = (f"qat epoch {epoch + 1}/{epochs}: loss {total_loss / len(x):.4f}, "
                    f"train accuracy {correct / len(x):.2%}")
            if val is not None:
                line += f", val accuracy {torch_accuracy(model, *val):.2%}"
            progress(line)
    return model.eval()
