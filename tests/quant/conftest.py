"""Fixtures for the quantization tests: a float DigitsCNN trained once per session."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from edgekd.data import Dataset, load_dataset
from edgekd.zoo import DigitsCNN

FLOAT_EPOCHS = 12


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset("digits")


def train_float(model: torch.nn.Module, dataset: Dataset, epochs: int, seed: int = 0) -> None:
    """Adam with a cosine schedule on the training split (augmentation-free: digits is easy)."""
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.from_numpy(dataset.train.x), torch.from_numpy(dataset.train.y)
    steps = epochs * ((len(x) + 63) // 64)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            idx = order[start:start + 64]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()


@pytest.fixture(scope="session")
def digits_weights(digits, tmp_path_factory) -> Path:
    """A state dict of zoo.DigitsCNN trained on digits, saved under the session's tmp dir."""
    torch.manual_seed(0)
    model = DigitsCNN()
    train_float(model, digits, FLOAT_EPOCHS)
    path = tmp_path_factory.mktemp("digits") / "digits_cnn.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture
def digits_cnn(digits_weights) -> DigitsCNN:
    """A fresh copy of the trained float model (tests may change theirs)."""
    model = DigitsCNN()
    model.load_state_dict(torch.load(digits_weights, weights_only=True))
    return model.eval()
