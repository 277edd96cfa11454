"""DiffAugment (Zhao et al. 2020): differentiable augmentation of everything D sees.

The same kind of random color / translation / cutout transform is applied to real and fake batches, in
D's update and in G's update, so D cannot tell real from fake by augmentation artifacts and G's gradient
passes through the transform. Everything is batched on the batch's device, and all randomness comes
from the ``generator`` passed in, so a resumed run draws exactly the same transforms.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Augment = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One U[0, 1) factor per sample, shaped to broadcast over (C, H, W)."""
    return torch.rand((x.shape[0], 1, 1, 1), generator=generator, device=x.device, dtype=x.dtype)


def rand_brightness(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    return x + (_uniform(x, generator) - 0.5)


def rand_saturation(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x, generator) * 2) + mean


def rand_contrast(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def _shifts(n: int, low: int, high: int, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randint(low, high, (n, 1, 1), generator=generator, device=x.device)


def rand_translation(x: torch.Tensor, generator: torch.Generator | None = None,
                     ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size in x and y, filling with zeros."""
    n, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _shifts(n, -max_dy, max_dy + 1, x, generator)
    dx = _shifts(n, -max_dx, max_dx + 1, x, generator)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    # Indices into the image padded by one zero pixel: anything shifted in from outside reads a zero.
    src_rows = (rows + dy + 1).clamp(0, h + 1)
    src_cols = (cols + dx + 1).clamp(0, w + 1)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    padded = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)
    return padded[batch, src_rows, src_cols].permute(0, 3, 1, 2)


def rand_cutout(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` of the image side per image, at a random center (may hang off an edge)."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    center_y = _shifts(n, 0, h + (1 - size_y % 2), x, generator)
    center_x = _shifts(n, 0, w + (1 - size_x % 2), x, generator)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = center_y - size_y // 2, center_x - size_x // 2
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES: dict[str, tuple[Augment, ...]] = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}
DIFFAUG_POLICY = ("color", "translation", "cutout")  # the paper's choice for limited-data GANs


def diff_augment(x: torch.Tensor, generator: torch.Generator | None = None,
                 policy: tuple[str, ...] = DIFFAUG_POLICY) -> torch.Tensor:
    """Apply the policy's transforms in order to a (N, C, H, W) batch; differentiable in ``x``."""
    if x.dim() != 4:
        raise ValueError(f"DiffAugment needs (N, C, H, W) images, got shape {tuple(x.shape)}")
    for name in policy:
        for transform in POLICIES[name]:
            x = transform(x, generator)
    return x.contiguous()
