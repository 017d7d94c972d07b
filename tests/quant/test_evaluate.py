"""edgekd/quant/evaluate.py: batched reference runs and accuracies."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgekd.quant import quantize
from edgekd.quant.evaluate import (
    int8_accuracy,
    quantize_inputs,
    run_reference,
    torch_accuracy,
    with_batch,
)
from edgekd.interpreter import run


def _model_and_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(3 * 3 * 2, 4)).eval()
    return model, np.random.default_rng(0).normal(size=(7, 2, 6, 4)).astype(np.float32)


def test_batched_runs_equal_one_sample_at_a_time():
    model, x = _model_and_data()
    graph = quantize(model, x)
    codes = quantize_inputs(graph, x)
    assert codes.dtype == np.int8 and codes.shape == (7, 6, 4, 2)  # NHWC
    singles = np.concatenate([run(graph, [codes[i:i + 1]])[0] for i in range(7)])
    np.testing.assert_array_equal(run_reference(graph, x, batch_size=3)[0], singles)
    assert graph.tensor(graph.inputs[0]).shape == (1, 6, 4, 2)  # the original is untouched
    assert with_batch(graph, 5).tensor(graph.outputs[0]).shape == (5, 4)


def test_accuracies_agree_with_argmax():
    model, x = _model_and_data()
    graph = quantize(model, x)
    with torch.no_grad():
        labels = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    assert torch_accuracy(model, x, labels) == 1.0
    int8_predictions = run_reference(graph, x)[0].argmax(axis=1)
    assert int8_accuracy(graph, x, labels) == float((int8_predictions == labels).mean())
