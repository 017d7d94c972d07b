"""edgekd/quant/qat.py: preparing, training and what a QAT model keeps fixed or learns."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgekd.errors import EdgeKDError
from edgekd.quant import QuantModel, convert, prepare_qat, train_qat
from edgekd.quant.evaluate import dequantize_output, run_reference, torch_accuracy
from edgekd.quant.qat import freeze_batchnorm, logits
from edgekd.zoo import DigitsCNN


def _task(n: int = 256, seed: int = 0):
    """A tiny separable 10-class task on 1x8x8 inputs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    prototypes = rng.uniform(0, 1, (10, 1, 8, 8)).astype(np.float32)
    x = prototypes[labels] + rng.normal(0, 0.2, (n, 1, 8, 8)).astype(np.float32)
    return x, labels


@pytest.fixture
def model():
    torch.manual_seed(0)
    return DigitsCNN(width=4).eval()


def test_prepare_qat_copies_and_starts_in_quant_train_mode(model):
    x, _ = _task()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    qat = prepare_qat(model, x[:2], calib_data=x)
    assert isinstance(qat, QuantModel) and qat.training and qat.mode == "quant"
    assert all(bool(r.initialized) for r in qat.ranges())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model.training


def test_without_calibration_the_first_batch_sets_ranges(model):
    x, _ = _task()
    qat = prepare_qat(model, x[:2])
    assert not any(bool(r.initialized) for r in qat.ranges())
    qat(torch.from_numpy(x[:32]))
    assert all(bool(r.initialized) for r in qat.ranges())


def test_training_learns_folded_parameters_with_frozen_batchnorm_statistics(model):
    x, y = _task()
    qat = prepare_qat(model, x[:2], calib_data=x)
    bn = qat.layers[0].bn
    mean, var = bn.running_mean.clone(), bn.running_var.clone()
    gamma, weight = bn.weight.detach().clone(), qat.layers[0].op.weight.detach().clone()
    with torch.no_grad():
        loss_before = nn.functional.cross_entropy(logits(qat.eval(), torch.from_numpy(x)),
                                                  torch.from_numpy(y)).item()
    lines = []
    train_qat(qat, x, y, epochs=3, lr=3e-3, batch_size=32, progress=lines.append)
    assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)
    assert not torch.equal(bn.weight, gamma)  # straight-through gradients reach BN's gamma
    assert not torch.equal(qat.layers[0].op.weight, weight)
    with torch.no_grad():
        loss_after = nn.functional.cross_entropy(logits(qat, torch.from_numpy(x)),
                                                 torch.from_numpy(y)).item()
    assert loss_after < loss_before
    assert len(lines) == 3 and lines[-1].startswith("qat epoch 3/3: loss")
    assert not qat.training  # handed back ready to evaluate and convert


def test_batchnorm_learns_from_batches_until_frozen(model):
    """From scratch, BatchNorm normalizes with batch statistics (and updates its running
    ones) until frozen; from then on training and eval compute the same integer path."""
    x, _ = _task()
    qat = prepare_qat(model, x[:2], calib_data=x)
    bn = qat.layers[0].bn
    batch = torch.from_numpy(x[:64]) * 3.0  # statistics unlike the running ones
    mean = bn.running_mean.clone()
    qat.train()
    with torch.no_grad():
        training_output = qat(batch)
    assert not torch.equal(bn.running_mean, mean)
    freeze_batchnorm(qat)
    mean = bn.running_mean.clone()
    with torch.no_grad():
        frozen_output = qat(batch)
        qat.eval()
        eval_output = qat(batch)
    assert torch.equal(bn.running_mean, mean)
    assert not torch.equal(training_output, frozen_output)
    assert torch.equal(frozen_output, eval_output)


def test_training_from_scratch_learns():
    torch.manual_seed(0)
    x, y = _task(n=512)
    qat = prepare_qat(DigitsCNN(width=4), x[:2])  # no calibration: the first batch sets ranges
    train_qat(qat, x, y, epochs=3, lr=3e-3, batch_size=32, freeze_batchnorm_fraction=0.7)
    assert torch_accuracy(qat, x, y) > 0.5  # chance is 0.1


def test_ranges_freeze_after_the_set_fraction_of_steps(model):
    x, y = _task(n=128)
    qat = prepare_qat(model, x[:2], calib_data=x)
    train_qat(qat, x, y, epochs=2, batch_size=32, freeze_fraction=0.5)  # 8 steps
    assert {int(r.steps) for r in qat.ranges()} == {4}


def test_converted_model_holds_exactly_what_the_qat_model_computed(model):
    x, y = _task()
    qat = prepare_qat(model, x[:2], calib_data=x[:64])
    train_qat(qat, x, y, epochs=1, lr=3e-3, batch_size=32)
    graph = convert(qat)
    with torch.no_grad():
        simulated = qat(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(dequantize_output(graph, run_reference(graph, x)[0]),
                                  simulated)
    # The int8 weights are the trained, BN-folded float weights on their grids.
    layer = qat.layers[0]
    folded, _ = layer.folded()
    w = graph.tensor(graph.nodes[0].inputs[1])
    dequantized = w.data.transpose(0, 3, 1, 2) * w.quant.scale[:, None, None, None]
    np.testing.assert_allclose(dequantized, folded.detach().numpy(),
                               atol=float(w.quant.scale.max()) / 2 + 1e-7)


def test_softmax_models_train_on_the_logits():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Softmax(dim=1))
    x, y = _task()
    qat = prepare_qat(model, x[:2], calib_data=x)
    scores = logits(qat, torch.from_numpy(x[:4]))
    assert not torch.allclose(scores.sum(dim=1), torch.ones(4))
    train_qat(qat, x, y, epochs=1)


def test_training_needs_labels_and_a_qat_model(model):
    x, y = _task()
    with pytest.raises(EdgeKDError, match="needs labels"):
        train_qat(prepare_qat(model, x[:2]), x, None)
    with pytest.raises(EdgeKDError, match="prepare_qat"):
        train_qat(model, x, y)
