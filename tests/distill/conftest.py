"""The distillation tests train tiny models: one torch thread is faster than two, and keeps
them fast when other work shares the cores (OpenMP threads spin while they wait)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
