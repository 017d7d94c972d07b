"""Shared fixtures. Tests that need ../shared (the MLPerf Tiny models) skip without it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Machines here are shared and noisy: no per-example deadlines. CI (CI=true) runs a fixed
# set of examples so that a landing never hinges on a new random draw; locally every run
# draws new examples, which is where new counterexamples are found.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EDGEKD_SHARED", REPO.parent / "shared"))
MLPERF = SHARED / "models" / "mlperf-tiny"
MLPERF_MODELS = {
    "kws": MLPERF / "kws_ref_model.tflite",
    "resnet8": MLPERF / "pretrainedResnet_quant.tflite",
}


def mlperf_model(key: str) -> Path:
    """Path of a shared MLPerf Tiny model, or skip the test saying why."""
    path = MLPERF_MODELS[key]
    if not path.is_file():
        pytest.skip(f"{path} not found: the MLPerf Tiny models live in ../shared beside the "
                    "checkout (set EDGEKD_SHARED to point elsewhere)")
    return path


@pytest.fixture(params=sorted(MLPERF_MODELS))
def mlperf_path(request) -> Path:
    """Each shared MLPerf Tiny model in turn."""
    return mlperf_model(request.param)
