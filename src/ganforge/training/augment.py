"""DiffAugment (Zhao et al. 2020): differentiable augmentation of everything D sees.

The same kind of random color / translation / cutout transform is applied to real and fake batches, in
D's update and in G's update, so D cannot tell real from fake by augmentation artifacts and G's gradient
passes through the transform. Everything is batched on the batch's device, and all randomness comes
from the ``generator`` passed in, so a resumed run draws exactly the same transforms.

In multi-process training each process holds a slice of the global batch; ``share=(index, count)`` makes
every random draw for the whole global batch and keeps this process's rows, so N processes augment
exactly as one process would (and their generators stay in step).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Augment = Callable[..., torch.Tensor]  # (x, generator, *, share) -> augmented x
Share = tuple[int, int]  # (this process's index, number of processes)
WHOLE: Share = (0, 1)


def own_rows(draw: torch.Tensor, share: Share) -> torch.Tensor:
    index, count = share
    rows = draw.shape[0] // count
    return draw[index * rows:(index + 1) * rows]


def _uniform(x: torch.Tensor, generator: torch.Generator | None, share: Share = WHOLE) -> torch.Tensor:
    """One U[0, 1) factor per sample, shaped to broadcast over (C, H, W)."""
    draw = torch.rand((x.shape[0] * share[1], 1, 1, 1), generator=generator, device=x.device, dtype=x.dtype)
    return own_rows(draw, share)


def rand_brightness(x: torch.Tensor, generator: torch.Generator | None = None, *,
                    share: Share = WHOLE) -> torch.Tensor:
    return x + (_uniform(x, generator, share) - 0.5)


def rand_saturation(x: torch.Tensor, generator: torch.Generator | None = None, *,
                    share: Share = WHOLE) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x, generator, share) * 2) + mean


def rand_contrast(x: torch.Tensor, generator: torch.Generator | None = None, *,
                  share: Share = WHOLE) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator, share) + 0.5) + mean


def _shifts(n: int, low: int, high: int, x: torch.Tensor, generator: torch.Generator | None,
            share: Share = WHOLE) -> torch.Tensor:
    draw = torch.randint(low, high, (n * share[1], 1, 1), generator=generator, device=x.device)
    return own_rows(draw, share)


def rand_translation(x: torch.Tensor, generator: torch.Generator | None = None,
                     ratio: float = 0.125, *, share: Share = WHOLE) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size in x and y, filling with zeros."""
    n, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _shifts(n, -max_dy, max_dy + 1, x, generator, share)
    dx = _shifts(n, -max_dx, max_dx + 1, x, generator, share)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    # Indices into the image padded by one zero pixel: anything shifted in from outside reads a zero.
    src_rows = (rows + dy + 1).clamp(0, h + 1)
    src_cols = (cols + dx + 1).clamp(0, w + 1)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    padded = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)
    return padded[batch, src_rows, src_cols].permute(0, 3, 1, 2)


def rand_cutout(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.5, *,
                share: Share = WHOLE) -> torch.Tensor:
    """Zero one square of ``ratio`` of the image side per image, at a random center (may hang off an edge)."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    center_y = _shifts(n, 0, h + (1 - size_y % 2), x, generator, share)
    center_x = _shifts(n, 0, w + (1 - size_x % 2), x, generator, share)
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
                 policy: tuple[str, ...] = DIFFAUG_POLICY, *, share: Share = WHOLE) -> torch.Tensor:
    """Apply the policy's transforms in order to a (N, C, H, W) batch; differentiable in ``x``."""
    if x.dim() != 4:
        raise ValueError(f"DiffAugment needs (N, C, H, W) images, got shape {tuple(x.shape)}")
    # The gathers below return NCHW; a channels-last batch (--channels-last) is handed back as it came.
    layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    for name in policy:
        for transform in POLICIES[name]:
            x = transform(x, generator, share=share)
    return x.contiguous(memory_format=layout)
