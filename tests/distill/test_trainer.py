"""The trainer: KD on digits beats chance, resume continues bit for bit, hints train,
checkpoints are atomic, and bad set-ups fail with one-line errors."""
from __future__ import annotations

import math
import warnings

import pytest
import torch

from edgekd.data import load_dataset
from edgekd.distill.losses import LossSpec
from edgekd.distill.teachers import TorchTeacher, load_teacher
from edgekd.distill.trainer import TrainConfig, cosine_factor, seed_everything, train_student
from edgekd.errors import EdgeKDError
from edgekd.zoo import DigitsCNN, digits_student, digits_teacher

CHANCE = 0.1  # ten balanced classes


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def trained_teacher(digits) -> TorchTeacher:
    """The digits teacher after a few epochs of plain cross-entropy (about 2 s)."""
    seed_everything(0)
    model = digits_teacher()
    train_student(model, digits, LossSpec("ce"), config=TrainConfig(epochs=6, log=None))
    return TorchTeacher(model)


def quiet(**kwargs) -> TrainConfig:
    return TrainConfig(log=None, **kwargs)


def test_cosine_schedule_runs_from_one_to_zero():
    assert cosine_factor(0, 100) == 1.0
    assert cosine_factor(50, 100) == pytest.approx(0.5)
    assert cosine_factor(100, 100) == 0.0
    assert cosine_factor(150, 100) == 0.0


def test_soft_loss_without_teacher_is_refused(digits):
    with pytest.raises(EdgeKDError, match="loss soft: needs a teacher"):
        train_student(digits_student(), digits, LossSpec("soft"), config=quiet(epochs=1))


def test_hint_needs_layers_and_a_torch_teacher(digits, tmp_path):
    teacher = TorchTeacher(DigitsCNN(width=4))
    with pytest.raises(EdgeKDError, match="loss hint needs at least one --hint"):
        train_student(digits_student(), digits, LossSpec("hint"), teacher, config=quiet(epochs=1))
    path = tmp_path / "t.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(DigitsCNN(width=4).eval(), (torch.zeros(1, 1, 8, 8),), str(path),
                          dynamo=False)
    with pytest.raises(EdgeKDError, match="feature hints need a torch teacher"):
        train_student(digits_student(), digits, LossSpec("hint"), load_teacher(str(path)),
                      hints=[("features.2", "features.2")], config=quiet(epochs=1))


def test_epoch_lines_are_logged(digits):
    lines = []
    train_student(digits_student(), digits, LossSpec("ce"),
                  config=TrainConfig(epochs=2, log=lines.append))
    assert [line.split()[:2] for line in lines] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert "val_acc" in lines[0]


@pytest.mark.slow
def test_kd_student_beats_chance_by_a_wide_margin(digits, trained_teacher):
    seed_everything(1)
    student = digits_student()
    metrics = train_student(student, digits, LossSpec("ced", temperature=4.0, alpha=0.9),
                            trained_teacher, config=quiet(epochs=15, lr=1e-2, max_shift=1))
    history = metrics["history"]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert metrics["best_val_score"] > 0.85 > 8 * CHANCE
    # the student handed back holds the best epoch's weights
    student.eval()
    with torch.no_grad():
        predicted = student(torch.from_numpy(digits.val.x)).argmax(1).numpy()
    assert (predicted == digits.val.y).mean() == metrics["best_val_score"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["soft", "hard"])
def test_soft_and_hard_targets_learn_without_labels(digits, trained_teacher, kind):
    unlabeled = load_dataset("digits")
    unlabeled.train.y = None
    seed_everything(2)
    metrics = train_student(digits_student(), unlabeled, LossSpec(kind, temperature=4.0),
                            trained_teacher, config=quiet(epochs=8, lr=1e-2))
    assert metrics["history"][-1]["val_agreement"] > 0.7


@pytest.mark.slow
def test_feature_hints_train_the_adapters(digits, trained_teacher, tmp_path):
    seed_everything(3)
    checkpoint = tmp_path / "ckpt.pt"
    student = digits_student()
    metrics = train_student(student, digits, LossSpec("hint", hint_weight=0.5),
                            trained_teacher, hints=[("features.2", "features.2"),
                                                    ("features.9", "features.9")],
                            config=quiet(epochs=6, lr=1e-2, checkpoint=checkpoint))
    assert metrics["best_val_score"] > 0.7
    state = torch.load(checkpoint, weights_only=True)
    # student layer 2 has 8 channels, the teacher's 32; layer 9: 32 and 128
    assert state["hints"]["convs.0.weight"].shape == (32, 8, 1, 1)
    assert state["hints"]["convs.1.weight"].shape == (128, 32, 1, 1)
    # the hooks are gone from both models afterwards
    assert not any(m._forward_hooks for m in student.modules())
    assert not any(m._forward_hooks for m in trained_teacher.module.modules())


class Interrupted(Exception):
    pass


def stop_at(epoch_line: str):
    """A log callback that crashes the run when it is about to report ``epoch_line``: the
    previous epoch's checkpoint is on disk, this one's is not."""
    def log(line: str) -> None:
        if line.startswith(epoch_line):
            raise Interrupted
    return log


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_resume_after_a_crash_continues_bit_for_bit(digits, tmp_path, optimizer):
    teacher = TorchTeacher(DigitsCNN(width=4))
    loss = LossSpec("ced")

    def run(**kwargs):
        seed_everything(7)
        student = digits_student()
        config = TrainConfig(epochs=4, optimizer=optimizer, max_shift=1, seed=7, **kwargs)
        return student, train_student(student, digits, loss, teacher, config=config)

    straight, straight_metrics = run(log=None)
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupted):
        run(log=stop_at("epoch 3/4"), checkpoint=checkpoint)
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 2
    resumed, resumed_metrics = run(log=None, checkpoint=checkpoint, resume=checkpoint)

    assert resumed_metrics["first_epoch"] == 3
    for name, tensor in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], tensor), name
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in straight_metrics["history"]]
    assert [{k: v for k, v in r.items() if k != "seconds"}
            for r in resumed_metrics["history"]] == strip
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary left over


def test_resume_with_more_epochs_replans_the_cosine(digits, tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    train_student(digits_student(), digits, LossSpec("ce"),
                  config=quiet(epochs=1, checkpoint=checkpoint))
    metrics = train_student(digits_student(), digits, LossSpec("ce"),
                            config=quiet(epochs=3, checkpoint=checkpoint, resume=checkpoint))
    assert [r["epoch"] for r in metrics["history"]] == [1, 2, 3]
    assert metrics["history"][0]["lr"] == 0.0  # the first run's schedule ended at zero
    steps = math.ceil(len(digits.train) / 64)
    assert metrics["history"][1]["lr"] == pytest.approx(3e-3 * cosine_factor(2 * steps, 3 * steps))


def test_resume_refuses_a_checkpoint_of_another_model(digits, tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    train_student(DigitsCNN(width=4), digits, LossSpec("ce"),
                  config=quiet(epochs=1, checkpoint=checkpoint))
    with pytest.raises(EdgeKDError, match=r"checkpoint.pt: does not fit this student") as info:
        train_student(digits_student(), digits, LossSpec("ce"),
                      config=quiet(epochs=2, resume=checkpoint))
    assert "\n" not in str(info.value)


def test_early_stopping_stops_after_patience_epochs_without_improvement(digits):
    seed_everything(0)
    metrics = train_student(digits_student(), digits, LossSpec("ce"),
                            config=quiet(epochs=50, lr=0.0, patience=2))
    # with lr 0 nothing improves after epoch 1
    assert metrics["stopped_early"] and metrics["last_epoch"] == 3 and metrics["best_epoch"] == 1
