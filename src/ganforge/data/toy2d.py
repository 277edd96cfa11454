"""``toy2d:ring`` and ``toy2d:grid``: the 2-D Gaussian mixtures of the PacGAN mode-collapse protocol.

ring: 8 modes at (cos 2πk/8, sin 2πk/8), k = 0..7, std 0.01.
grid: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05.
Modes are equally likely; 100,000 float32 points are drawn once from a fixed seed, and each point's
label is the index of the mode it was drawn from, so conditional models can train on them too.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ganforge.data.base import POINTS, DatasetSource, TensorDataset
from ganforge.errors import GanforgeError, did_you_mean

TOY2D_NAMES = ("ring", "grid")
TOY2D_SIZE = 100_000
TOY2D_SEED = 2018  # fixed so that every run and every evaluation sees the same points
TOY2D_STD = {"ring": 0.01, "grid": 0.05}


def _check_name(name: str) -> None:
    if name not in TOY2D_NAMES:
        raise GanforgeError(f"unknown toy2d dataset '{name}'{did_you_mean(name, TOY2D_NAMES)}; "
                            f"choose one of: {', '.join(f'toy2d:{n}' for n in TOY2D_NAMES)}")


def toy2d_modes(name: str) -> tuple[torch.Tensor, float]:
    """The mode centers, float32 ``(K, 2)`` in label order, and the per-axis std of each Gaussian.

    ring: K = 8, center k at angle 2πk/8 (not linspace(0, 2π, 8), whose first and last modes coincide).
    grid: K = 25, center ``5 * i + j`` at ``(-4 + 2i, -4 + 2j)``.
    """
    _check_name(name)
    if name == "ring":
        angles = [2 * math.pi * k / 8 for k in range(8)]
        centers = [(math.cos(a), math.sin(a)) for a in angles]
    else:
        coords = [-4.0, -2.0, 0.0, 2.0, 4.0]
        centers = [(x, y) for x in coords for y in coords]
    return torch.tensor(centers, dtype=torch.float32), TOY2D_STD[name]


def sample_toy2d(name: str, n: int = TOY2D_SIZE, seed: int = TOY2D_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points (float32 ``(n, 2)``) and their mode index (int64 ``(n,)``), deterministic in ``seed``."""
    centers, std = toy2d_modes(name)
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(centers), (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator, dtype=torch.float64) * std
    points = (centers.double()[labels] + noise).float()
    return points, labels


def load_toy2d(arg: str | None, cache_dir: Path, download: bool, resolution: int | None) -> TensorDataset:
    name = arg or ""
    _check_name(name)
    points, labels = sample_toy2d(name)
    centers, _ = toy2d_modes(name)
    # rounding keeps cos(pi/2) = 6e-17 from showing up in the names
    class_names = [f"({round(x, 3) + 0:g}, {round(y, 3) + 0:g})" for x, y in centers.tolist()]
    return TensorDataset(points, labels, num_classes=len(centers), name=f"toy2d:{name}", class_names=class_names)


TOY2D = DatasetSource(
    name="toy2d",
    description="2-D Gaussian mixtures (PacGAN): ring = 8 modes std 0.01, grid = 25 modes std 0.05",
    load=load_toy2d,
    kind=POINTS,
    size=TOY2D_SIZE,
    takes_argument=True,
    example="toy2d:ring",
    choices=TOY2D_NAMES,
    classes_note="8|25",
    is_present=lambda cache_dir: True,  # generated on the fly
)
