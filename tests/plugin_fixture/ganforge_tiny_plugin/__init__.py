"""A model family and a loss that live outside ganforge and reach it through entry points."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.losses import GanLoss
from ganforge.models.base import ModelSpec, image_family


class TinyGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.z_dim, self.num_classes = spec.z_dim, spec.num_classes
        self.shape = (spec.channels, spec.resolution, spec.resolution)
        self.net = nn.Sequential(nn.Linear(spec.z_dim, spec.width), nn.ReLU(),
                                 nn.Linear(spec.width, spec.channels * spec.resolution ** 2), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(len(z), *self.shape)


class TinyDiscriminator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(spec.channels * spec.resolution ** 2, spec.width),
                                 nn.LeakyReLU(0.2), nn.Linear(spec.width, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)


TINY_MLP = image_family("tinymlp", "two-layer MLPs from a plugin package", TinyGenerator, TinyDiscriminator, ())

SOFT_HINGE = GanLoss(
    "softhinge", "hinge with softplus corners (plugin)",
    d_loss=lambda real, fake: F.softplus(1 - real).mean() + F.softplus(1 + fake).mean(),
    g_loss=lambda real, fake: -fake.mean(),
    d_output=lambda scores: scores,
)
