"""Random-shift augmentation: every image moves by its own offset, zeros fill in."""
from __future__ import annotations

import torch

from edgekd.distill.augment import random_shift


def single_pixel_images(n: int) -> torch.Tensor:
    images = torch.zeros(n, 2, 8, 8)
    images[:, 0, 4, 3] = 1.0
    images[:, 1, 4, 3] = 2.0  # every channel moves with the image
    return images


def test_zero_shift_is_the_identity():
    images = torch.rand(3, 1, 8, 8)
    assert random_shift(images, 0, torch.Generator().manual_seed(0)) is images


def test_each_image_moves_by_at_most_max_shift_and_all_offsets_occur():
    images = single_pixel_images(400)
    shifted = random_shift(images, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    offsets = set()
    for image in shifted:
        (row, col), = torch.nonzero(image[0]).tolist()
        assert image[0].sum() == 1.0 and image[1, row, col] == 2.0
        assert abs(row - 4) <= 2 and abs(col - 3) <= 2
        offsets.add((row - 4, col - 3))
    assert len(offsets) == 25


def test_content_shifted_out_is_lost_and_zeros_shift_in():
    images = torch.zeros(200, 1, 8, 8)
    images[:, 0, 0, :] = 1.0  # the top row
    shifted = random_shift(images, 1, torch.Generator().manual_seed(1))
    sums = shifted.flatten(1).sum(1)
    # up: the row leaves (sum 0); down or level: it stays, 7 or 8 pixels depending on dx
    assert set(sums.tolist()) <= {0.0, 7.0, 8.0}
    assert {0.0, 7.0, 8.0} <= set(sums.tolist())


def test_the_generator_makes_it_reproducible():
    images = torch.rand(16, 1, 8, 8)
    a = random_shift(images, 1, torch.Generator().manual_seed(5))
    b = random_shift(images, 1, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
