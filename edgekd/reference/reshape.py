"""RESHAPE: the same bytes under a new shape (the generated C aliases the buffer)."""
from __future__ import annotations

import numpy as np


def reshape(x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    return x.reshape(out_shape)
