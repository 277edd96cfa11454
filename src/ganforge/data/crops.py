"""``--crop random``: a random square window of each image, drawn afresh every time the image is drawn.

The images are decoded (or resized) to ``margin_size(R)``, 1/8 larger than the training resolution R
(the same 1/8 DiffAugment translates by), each keeping the middle square of its file as ``--crop center``
does; every batch then takes an R x R window of each image at an offset drawn from a generator seeded by
(seed, batch number). The offsets are thus a pure function of the batch's place in the run: a resumed run
crops exactly as the uninterrupted one, with nothing added to the checkpoint, and every rank of a
multi-process run draws the whole global batch's offsets and keeps its own rows.
"""

from __future__ import annotations

import numpy as np
import torch

from ganforge.data.base import TensorDataset, resize_images
from ganforge.errors import GanforgeError

RANDOM = "random"
CROP_STREAM = 0x63726F70  # keeps the crop draws apart from every other generator seeded by (seed, ...)


def margin_size(resolution: int) -> int:
    """The side images are stored at for random crops of side ``resolution``."""
    return resolution + max(1, resolution // 8)


def crop_offsets(seed: int, position: int, count: int, room: int) -> torch.Tensor:
    """(count, 2) top-left corners in [0, room] for global batch ``position``: a pure function of its arguments."""
    rng = np.random.default_rng([seed, position, CROP_STREAM])
    return torch.from_numpy(rng.integers(0, room + 1, size=(count, 2)))


def random_crops(images: torch.Tensor, size: int, offsets: torch.Tensor) -> torch.Tensor:
    """The ``size`` x ``size`` window of each image of ``(N, C, S, S)`` whose top-left corner is its row of
    ``offsets``, gathered in one indexing op on the images' device."""
    offsets = offsets.to(images.device)
    span = torch.arange(size, device=images.device)
    rows = (offsets[:, 0:1] + span).unsqueeze(2)  # (N, size, 1)
    cols = (offsets[:, 1:2] + span).unsqueeze(1)  # (N, 1, size)
    batch = torch.arange(len(images), device=images.device).view(-1, 1, 1)
    return images[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()  # indexing puts channels last


def with_random_crops(dataset: TensorDataset, resolution: int | None) -> TensorDataset:
    """``dataset`` (loaded at ``margin_size(resolution)`` where its source decodes files) set up to be
    cropped to ``resolution`` (its own side when None) each time an image is drawn."""
    if not dataset.is_image:
        raise GanforgeError(f"--crop random crops images, and {dataset.name} holds 2-D points; leave --crop unset")
    if dataset.items is not None:
        raise GanforgeError("--crop random crops a decoded image set; crop a Python Dataset in its own "
                            "transform (torchvision's RandomCrop), which stays live when streamed")
    size = resolution or dataset.resolution
    if dataset.resolution <= size:  # stored no larger than the crop: resized up to leave room to move
        dataset.data, dataset.rows = resize_images(dataset.data, margin_size(size)), None
    dataset.crop_size = size
    return dataset
