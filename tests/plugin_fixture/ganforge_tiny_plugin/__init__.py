"""A model family, a loss and a regularizer that live outside ganforge and reach it through entry points;
the family and the regularizer declare options of their own."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.losses import GanLoss
from ganforge.models.base import ModelSpec, image_family
from ganforge.options import OptionSpec
from ganforge.regularizers import PenaltyInputs, Regularizer

HIDDEN = OptionSpec("hidden", "int", 1, "hidden layers of G", minimum=1, maximum=4)


class TinyGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.z_dim, self.num_classes = spec.z_dim, spec.num_classes
        self.shape = (spec.channels, spec.resolution, spec.resolution)
        layers: list[nn.Module] = []
        for index in range(spec.options.get("hidden", HIDDEN.default)):
            layers += [nn.Linear(spec.z_dim if index == 0 else spec.width, spec.width), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(spec.width, spec.channels * spec.resolution ** 2), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(len(z), *self.shape)


class TinyDiscriminator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(spec.channels * spec.resolution ** 2, spec.width),
                                 nn.LeakyReLU(0.2), nn.Linear(spec.width, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)


TINY_MLP = image_family("tinymlp", "two-layer MLPs from a plugin package", TinyGenerator, TinyDiscriminator,
                        (HIDDEN,))

SOFT_HINGE = GanLoss(
    "softhinge", "hinge with softplus corners (plugin)",
    d_loss=lambda real, fake: F.softplus(1 - real).mean() + F.softplus(1 + fake).mean(),
    g_loss=lambda real, fake: -fake.mean(),
    d_output=lambda scores: scores,
)


def _drift(inputs: PenaltyInputs, weight: float, power: float) -> torch.Tensor:
    return weight * inputs.discriminator(inputs.real, inputs.labels).abs().pow(power).mean()


DRIFT = Regularizer(
    "drift", "ProGAN's drift penalty weight * E[|D(x)|^power] (plugin)", weight_key="weight", player="d",
    penalty=_drift,
    options=(OptionSpec("weight", "float", 0.0, "its weight (0 = off)", minimum=0),
             OptionSpec("power", "float", 2.0, "the power of |D(x)|", minimum=1, maximum=4)),
)
