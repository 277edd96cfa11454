"""The sample grid drawn during training: fixed latents, so successive grids show G changing, not the noise."""

from __future__ import annotations

import torch

SAMPLE_GRID_SIZE = 64
GRID_COLUMNS = 8  # sample grids are 8 wide; conditional grids have one row per class
MAX_GRID_ROWS = 64  # classes shown in a conditional grid (celeba-style attribute sets have few)


def conditional_grid_labels(num_classes: int, columns: int = GRID_COLUMNS,
                            max_rows: int = MAX_GRID_ROWS) -> torch.Tensor:
    """Row r of a conditional sample grid is class r: labels (0,0,..,0, 1,1,..,1, ...)."""
    return torch.arange(min(num_classes, max_rows)).repeat_interleave(columns)


def fixed_grid_inputs(fixed_z: torch.Tensor, num_classes: int,
                      images: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latents and labels of the sample grid drawn during training.

    Unconditional: the fixed latents as they are. Conditional images: one row per class, the same
    ``GRID_COLUMNS`` latents in every row, so a column shows one latent across classes. Conditional
    points (a scatter plot): the fixed latents cycle through the classes.
    """
    if num_classes == 0:
        return fixed_z, None
    if images:
        labels = conditional_grid_labels(num_classes)
        return fixed_z[:GRID_COLUMNS].repeat(len(labels) // GRID_COLUMNS, 1), labels
    return fixed_z, torch.arange(len(fixed_z)) % num_classes
