"""Training-time augmentation for small images: random shifts with zero fill."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each N x C x H x W image by its own random (dy, dx) in [-max_shift, max_shift]
    pixels; pixels shifted in are zero (the background of the digits)."""
    if max_shift <= 0:
        return images
    n, _, height, width = images.shape
    padded = F.pad(images, (max_shift, max_shift, max_shift, max_shift))
    # offsets index into the padded image: max_shift means "not shifted"
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator).to(images.device)
    rows = offsets[:, 0, None] + torch.arange(height, device=images.device)  # N x H
    cols = offsets[:, 1, None] + torch.arange(width, device=images.device)  # N x W
    batch = torch.arange(n, device=images.device)[:, None, None]
    channels_last = padded.permute(0, 2, 3, 1)  # advanced indexing keeps the trailing C
    shifted = channels_last[batch, rows[:, :, None], cols[:, None, :]]  # N x H x W x C
    return shifted.permute(0, 3, 1, 2).contiguous()
