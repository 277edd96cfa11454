"""Sample grids as uint8 arrays and PNG files (Pillow; no torchvision)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge.data.base import to_uint8
from ganforge.fileio import atomic_path


def image_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2,
               pad_value: int = 0) -> np.ndarray:
    """(N, C, H, W) images in [-1, 1] (or uint8) -> one (H', W', 3) uint8 grid, ``nrow`` per row."""
    if images.dtype != torch.uint8:
        images = to_uint8(images)
    images = images.cpu()
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    n, _, h, w = images.shape
    ncol = nrow or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncol)
    grid = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding, 3), pad_value, np.uint8)
    array = images.permute(0, 2, 3, 1).numpy()
    for index in range(n):
        r, c = divmod(index, ncol)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top:top + h, left:left + w] = array[index]
    return grid


def scatter_image(points: torch.Tensor, reference: torch.Tensor | None = None, size: int = 256) -> np.ndarray:
    """2-D samples drawn as a scatter plot (reference points in grey underneath)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(size / 64, size / 64), dpi=64)
    if reference is not None:
        ref_x, ref_y = reference[:2000].cpu().T
        ax.scatter(ref_x, ref_y, s=2, c="0.75")
    x, y = points.detach().cpu().float().T
    ax.scatter(x, y, s=2, c="tab:blue")
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout(pad=0.1)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def render_samples(samples: torch.Tensor, nrow: int | None = None,
                   reference: torch.Tensor | None = None) -> np.ndarray:
    """A picture of a batch of samples: an image grid, or a scatter plot for 2-D data."""
    if samples.dim() == 4:
        return image_grid(samples, nrow=nrow)
    return scatter_image(samples, reference)


def save_png(array: np.ndarray, path: Path | str) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
