"""The keyword spotting networks of the zoo go through the int8 path: each quantizes on
front-end features and its generated C is bit-exact on the host. Untrained weights: this
checks every layer converts, not accuracy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekd import zoo
from edgekd.audio import frontend
from edgekd.data import Dataset, Split
from edgekd.quant.pipeline import quantize_to_file
from edgekd.verify.host import verify_host


def random_features(n: int, seed: int) -> Split:
    """Features of random audio at random levels, as load_dataset gives them."""
    rng = np.random.default_rng(seed)
    audio = np.rint(rng.standard_normal((n, 16000)) * rng.uniform(10, 8000, (n, 1))).astype(np.int16)
    x = frontend.features(audio).astype(np.float32)[:, None] * frontend.FEATURE_SCALE
    return Split(x, rng.integers(0, 12, n))


@pytest.mark.slow  # two C builds of a generated model
@pytest.mark.parametrize("factory", ["kws_student", "kws_student_m0"])
def test_kws_models_quantize_and_verify(factory, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "w.pt"
    torch.save(getattr(zoo, factory)().state_dict(), weights)
    data = Dataset("features", random_features(16, 0), random_features(4, 1), random_features(4, 2), 12)
    result = quantize_to_file(f"edgekd.zoo:{factory}", str(weights), data, "minmax",
                              tmp_path / "m.tflite", log=None)
    outcome = verify_host(result["path"], inputs=5, tflm=False)  # seeded random int8 inputs
    assert outcome.bit_exact, outcome
