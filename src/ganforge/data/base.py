"""The in-memory dataset every source decodes into, and the description each source registers."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.data.rowfile import RowFile

CACHE_ENV = "GANFORGE_CACHE"
# What a dataset holds; it decides which models train on it and which metrics score it.
IMAGE, POINTS = "image", "points"
KIND_NOUNS = {IMAGE: "images", POINTS: "2-D points"}  # how messages name the data of each kind


def default_cache_dir() -> Path:
    """``$GANFORGE_CACHE`` when set, else ``~/.cache/ganforge``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ganforge"


@dataclass
class TensorDataset:
    """A whole dataset decoded once and kept in memory.

    Images are uint8 ``(N, C, H, W)``; 2-D toy data are float32 ``(N, D)``. Labels are int64 ``(N,)``
    and all zero when the dataset has no classes (``num_classes == 0``). ``kind`` is IMAGE or POINTS;
    left empty, it follows the tensor layout, and a declared kind must match that layout.
    """

    data: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    name: str
    class_names: list[str] | None = None
    skipped: int = 0  # unreadable files dropped while decoding
    kind: str = ""
    # where ``data`` lies on disk when it is a memory-mapped cache: stream workers read its rows with
    # file reads instead of touching the map (see ganforge.data.rowfile)
    rows: RowFile | None = None
    # --crop random: the images are stored larger and each draw takes a random crop_size window of them
    # (ganforge.data.crops); 0 = every image is used whole
    crop_size: int = 0

    def __post_init__(self) -> None:
        if len(self.data) != len(self.labels):
            raise ValueError(f"{len(self.data)} samples but {len(self.labels)} labels")
        layout = IMAGE if self.data.dim() == 4 else POINTS
        self.kind = self.kind or layout
        if self.kind != layout:
            raise ValueError(f"a {self.kind} dataset cannot hold data of shape {tuple(self.data.shape)}")
        if self.is_image and self.data.dtype != torch.uint8:
            raise ValueError(f"images must be uint8, got {self.data.dtype}")

    def __len__(self) -> int:
        return len(self.data)

    @property
    def items(self) -> Any:
        """A map-style Dataset whose ``__getitem__`` gives the samples (read afresh every epoch when
        streamed); None when ``data`` holds them all (see ``ganforge.data.user.ItemDataset``)."""
        return None

    @property
    def is_image(self) -> bool:
        return self.kind == IMAGE

    @property
    def channels(self) -> int:
        return self.data.shape[1] if self.is_image else 0

    @property
    def resolution(self) -> int:
        """The side of the images training sees (a random crop's, under --crop random)."""
        return (self.crop_size or self.data.shape[-1]) if self.is_image else 0

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.channels, self.resolution, self.resolution) if self.is_image else tuple(self.data.shape[1:])


def to_model_range(batch: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [-1, 1]; float data (toy points) pass through unchanged."""
    if batch.dtype == torch.uint8:
        return batch.float().div_(127.5).sub_(1.0)
    return batch


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8, the same rounding a PNG writer applies (NVIDIA's rule)."""
    return (images.detach().float() * 127.5 + 128).clamp_(0, 255).to(torch.uint8)


def pad_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad uint8 images symmetrically to ``size`` (28x28 digit sets -> 32x32, as is customary)."""
    h, w = images.shape[-2:]
    if h > size or w > size:
        raise ValueError(f"cannot pad {h}x{w} images to {size}x{size}")
    top, left = (size - h) // 2, (size - w) // 2
    return F.pad(images, (left, size - w - left, top, size - h - top))


def resize_images(images: torch.Tensor, size: int, chunk: int = 2048) -> torch.Tensor:
    """Resize square uint8 images to ``size`` (antialiased bilinear), in chunks to bound memory."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = []
    for part in images.split(chunk):
        resized = F.interpolate(part.float(), size=(size, size), mode="bilinear", antialias=True,
                                align_corners=False)
        out.append(resized.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


@dataclass(frozen=True)
class DatasetSource:
    """What a dataset name means: its description for ``ganforge data list`` and how to load it.

    ``load(arg, cache_dir, download, resolution)`` returns a dataset of ``kind``; ``arg`` is the part after
    ``name:`` for parameterised sources (``folder:PATH``, ``toy2d:ring``), else None. ``resolution`` is
    the requested side length (None = the source's native one); sources with a native resolution may
    ignore it, since :func:`ganforge.data.load_dataset` resizes afterwards.
    """

    name: str
    description: str
    load: Callable[..., TensorDataset]  # (arg, cache_dir, download, resolution[, crop=...])
    kind: str  # IMAGE or POINTS: what load returns, known without loading anything
    resolution: int | None = None  # native side length after padding; None for points / folders
    channels: int | None = None
    num_classes: int | None = None
    size: int | None = None  # training samples
    # True/False: the needed files are (not) in the cache; None: not applicable (``folder:PATH``)
    is_present: Callable[[Path], bool | None] = field(default=lambda cache_dir: True)
    takes_argument: bool = False  # the ':' argument is required (``folder:PATH``, ``toy2d:ring``)
    example: str = ""
    argument_optional: bool = False  # ``celeba`` or ``celeba:Smiling``
    metavar: str = "ARG"  # how ``ganforge data list`` names the argument
    choices: tuple[str, ...] = ()  # the only valid arguments, when they form a fixed set
    classes_note: str | None = None  # shown instead of ``num_classes`` when it depends on the argument
    # fetch and verify every file the source needs into the cache; None when nothing is downloadable
    download_files: Callable[[Path], list[Path]] | None = None
    crops: bool = False  # ``load`` takes ``crop=`` ("center" | "pad"): how a non-square image is squared

    @property
    def usage(self) -> str:
        """How the name is written on the command line: ``toy2d:ring|grid``, ``celeba[:ATTR]``."""
        if self.choices:
            return f"{self.name}:{'|'.join(self.choices)}"
        if self.takes_argument:
            return f"{self.name}:{self.metavar}"
        if self.argument_optional:
            return f"{self.name}[:{self.metavar}]"
        return self.name
