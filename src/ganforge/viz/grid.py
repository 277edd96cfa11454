"""Sample grids as uint8 arrays and PNG files or bytes (Pillow; no torchvision).

Every grid ganforge draws (training samples, ``generate``, ``serve``, the notebook, the Hub card) comes
from :class:`GridCanvas`, filled batch by batch so that a large grid never holds all float samples.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge.data.base import to_uint8
from ganforge.fileio import atomic_path
from ganforge.viz.scatter import scatter_picture

PIXEL_PADDING = 2  # the gutter between tiles, in pixels


def grid_columns(num: int, num_classes: int = 0, classes: Sequence[int] | None = None, nrow: int | None = None) -> int:
    """Images per row: ``nrow`` when given, one column per class for conditional grids, else near-square."""
    if nrow:
        return max(1, min(nrow, num))
    pool = len(classes) if classes else num_classes
    if 2 <= pool <= 16 and num >= pool:
        return pool
    return max(1, math.ceil(math.sqrt(num)))


def grid_shape(num: int, ncol: int, height: int, width: int, padding: int = PIXEL_PADDING) -> tuple[int, int]:
    rows = math.ceil(num / ncol)
    return rows * (height + padding) + padding, ncol * (width + padding) + padding


class GridCanvas:
    """A uint8 (H, W, 3) grid of ``num`` tiles, ``ncol`` per row, pasted batch by batch."""

    def __init__(self, num: int, ncol: int, height: int, width: int, padding: int = PIXEL_PADDING) -> None:
        self.ncol, self.height, self.width, self.padding = ncol, height, width, padding
        self.array = np.zeros((*grid_shape(num, ncol, height, width, padding), 3), np.uint8)

    def paste(self, start: int, images: torch.Tensor) -> None:
        """Tiles ``start``.. from (N, C, H, W) images in [-1, 1] (or uint8)."""
        pixels = images.cpu() if images.dtype == torch.uint8 else to_uint8(images)
        if pixels.shape[1] == 1:
            pixels = pixels.expand(-1, 3, -1, -1)
        array = pixels[:, :3].permute(0, 2, 3, 1).numpy()
        step_y, step_x = self.height + self.padding, self.width + self.padding
        for offset, tile in enumerate(array):
            row, col = divmod(start + offset, self.ncol)
            top, left = self.padding + row * step_y, self.padding + col * step_x
            self.array[top:top + self.height, left:left + self.width] = tile


def image_grid(images: torch.Tensor, nrow: int | None = None, padding: int = PIXEL_PADDING) -> np.ndarray:
    """(N, C, H, W) images in [-1, 1] (or uint8) -> one (H', W', 3) uint8 grid, ``nrow`` per row."""
    n, _, h, w = images.shape
    canvas = GridCanvas(n, nrow or math.ceil(math.sqrt(n)), h, w, padding)
    canvas.paste(0, images)
    return canvas.array


def render_samples(samples: torch.Tensor, nrow: int | None = None, reference: torch.Tensor | None = None,
                   labels: torch.Tensor | None = None,
                   limits: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """A picture of a batch of samples: an image grid, or a scatter plot for 2-D data."""
    if samples.dim() == 4:
        return image_grid(samples, nrow=nrow)
    return scatter_picture(samples[:, :2], labels, reference, limits)


def encode_png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(array: np.ndarray, path: Path | str) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
