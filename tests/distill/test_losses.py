"""Distillation losses against hand-computed values and gradients."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from edgekd.distill.losses import (FeatureCapture, HintAdapters, LossSpec, ced_loss,
                                   check_hint_shapes, hard_target_loss, hint_loss, parse_hint,
                                   soft_target_loss)
from edgekd.errors import EdgeKDError


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_soft_loss_is_zero_with_zero_gradient_when_student_equals_teacher():
    teacher = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    student = teacher.clone().requires_grad_(True)
    loss = soft_target_loss(student, teacher, temperature=4.0)
    loss.backward()
    assert abs(loss.item()) < 1e-6
    assert float(student.grad.abs().max()) < 1e-7


@pytest.mark.parametrize("temperature, expected", [
    # teacher [0, 0] -> (1/2, 1/2); student [ln 3, 0] -> (3/4, 1/4) at T = 1:
    # KL = 1/2 ln(1/2 / 3/4) + 1/2 ln(1/2 / 1/4) = 1/2 ln(4/3)
    (1.0, 0.5 * math.log(4 / 3)),
    # at T = 2 the student is (r, 1 - r) with r = sqrt(3) / (1 + sqrt(3)); times T^2 = 4
    (2.0, 4 * 0.5 * math.log(0.25 / ((math.sqrt(3) / (1 + math.sqrt(3)))
                                     * (1 / (1 + math.sqrt(3)))))),
])
def test_soft_loss_hand_computed_with_t_squared_scaling(temperature, expected):
    student = torch.tensor([[math.log(3.0), 0.0]])
    teacher = torch.tensor([[0.0, 0.0]])
    value = float(soft_target_loss(student, teacher, temperature))
    assert value == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 8.0])
def test_soft_loss_gradient_is_t_times_probability_difference_over_batch(temperature):
    # d/ds [T^2 KL(p_t || softmax(s / T))] = T (softmax(s / T) - p_t), averaged over the batch
    rng = np.random.default_rng(1)
    s = rng.normal(size=(3, 5)).astype(np.float64)
    t = rng.normal(size=(3, 5)).astype(np.float64)
    student = torch.tensor(s, requires_grad=True)
    soft_target_loss(student, torch.tensor(t), temperature).backward()
    expected = temperature * (softmax(s / temperature) - softmax(t / temperature)) / len(s)
    np.testing.assert_allclose(student.grad.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_hard_loss_is_cross_entropy_on_teacher_argmax():
    student = torch.tensor([[math.log(3.0), 0.0]])  # p = (3/4, 1/4)
    teacher = torch.tensor([[0.0, 5.0]])  # top-1 is class 1
    assert float(hard_target_loss(student, teacher)) == pytest.approx(math.log(4.0), rel=1e-6)


def test_hard_loss_does_not_depend_on_teacher_confidence():
    student = torch.tensor([[0.3, 1.2, -0.5]])
    low = hard_target_loss(student, torch.tensor([[0.0, 0.1, 0.0]]))
    high = hard_target_loss(student, torch.tensor([[0.0, 9.0, 0.0]]))
    assert float(low) == float(high)


def test_ced_blends_soft_and_label_cross_entropy():
    student = torch.tensor([[math.log(3.0), 0.0]])
    teacher = torch.tensor([[0.0, 0.0]])
    labels = torch.tensor([1])  # CE = ln 4
    soft = 0.5 * math.log(4 / 3)
    for alpha in (0.0, 0.25, 1.0):
        value = float(ced_loss(student, teacher, labels, temperature=1.0, alpha=alpha))
        assert value == pytest.approx(alpha * soft + (1 - alpha) * math.log(4.0), rel=1e-6)


def test_loss_spec_rejects_bad_knobs():
    for kwargs in ({"kind": "mse"}, {"temperature": 0.0}, {"alpha": 1.5}, {"hint_weight": -1}):
        with pytest.raises(EdgeKDError):
            LossSpec(**kwargs)


def test_loss_spec_dispatches_each_kind():
    student = torch.tensor([[math.log(3.0), 0.0]])
    teacher = torch.tensor([[0.0, 5.0]])
    labels = torch.tensor([0])
    hard = float(LossSpec("hard").logit_loss(student, teacher, labels))
    assert hard == pytest.approx(math.log(4.0))
    assert float(LossSpec("ce").logit_loss(student, None, labels)) == pytest.approx(math.log(4 / 3))
    soft = float(soft_target_loss(student, teacher, 3.0))
    assert float(LossSpec("soft", temperature=3.0).logit_loss(student, teacher, labels)) == soft


class TwoLayers(nn.Module):
    def __init__(self, cin: int = 2, cout: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.ReLU())
        self.head = nn.Linear(cout, 4)

    def forward(self, x):
        return self.head(self.body(x).mean(dim=(2, 3)))


def test_feature_capture_keeps_named_layer_output_and_can_be_removed():
    model = TwoLayers()
    capture = FeatureCapture(model, ["body.1"])
    x = torch.randn(2, 2, 4, 4)
    model(x)
    expected = torch.relu(model.body[0](x))
    assert torch.equal(capture.features["body.1"], expected)
    capture.remove()
    capture.features.clear()
    model(x)
    assert capture.features == {}


def test_feature_capture_names_the_available_layers_on_a_typo():
    message = r"student: no layer named 'body\.7'; layers: body, body\.0"
    with pytest.raises(EdgeKDError, match=message):
        FeatureCapture(TwoLayers(), ["body.7"], owner="student")


def test_hint_loss_is_mse_through_the_adapter_and_trains_it():
    adapters = HintAdapters([("t", "s")], student_channels=[2], teacher_channels=[3])
    student_feature = torch.randn(2, 2, 4, 4)
    teacher_feature = torch.randn(2, 3, 4, 4)
    loss = hint_loss(adapters([student_feature]), [teacher_feature])
    weight = adapters.convs[0].weight.detach()[:, :, 0, 0]  # 3 x 2
    mapped = torch.einsum("oc,nchw->nohw", weight, student_feature)
    assert loss.item() == pytest.approx(float(((mapped - teacher_feature) ** 2).mean()), rel=1e-5)
    loss.backward()
    assert adapters.convs[0].weight.grad.abs().sum() > 0


def test_hint_loss_is_zero_when_the_adapted_features_match():
    feature = torch.randn(1, 3, 2, 2)
    assert float(hint_loss([feature, feature * 2], [feature, feature * 2])) == 0.0


def test_parse_hint_and_shape_check():
    assert parse_hint("features.5:features.2") == ("features.5", "features.2")
    for bad in ("features.5", ":x", "x:"):
        with pytest.raises(EdgeKDError, match="teacher_layer:student_layer"):
            parse_hint(bad)
    with pytest.raises(EdgeKDError, match=r"hint a:b: .*same H x W"):
        check_hint_shapes([("a", "b")], [torch.zeros(1, 4, 8, 8)], [torch.zeros(1, 2, 4, 4)])
