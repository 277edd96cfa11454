"""Fully connected GANs: the vanilla GAN (Goodfellow et al. 2014) and the PacGAN 2-D toy networks.

``arch: default`` (scaled by ``width``):
- images: G z -> 4w -> 8w -> 16w -> C*H*W with LeakyReLU(0.2), BatchNorm after the first hidden layer, and
  tanh; D flatten -> 8w -> 4w with LeakyReLU(0.2).
- points: G and D have three hidden layers of 4w units; G's output is linear (points are not bounded).
``arch: pacgan`` (points only; PacGAN, Lin et al. 2018, fixed sizes, ``width`` unused):
- G 4 x [Linear 400 without bias, BatchNorm1d, ReLU] -> Linear; D 3 x maxout(200 units, 5 pieces) -> Linear;
  all weights N(0, 0.02).
Conditional: G concatenates a learned label embedding to z; D is a projection discriminator on its last
hidden layer. ``pack`` multiplies D's input features; ``spectral_norm: true`` normalises every D layer
(off by default).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.models.base import (
    ARCH,
    PACK,
    SPECTRAL_NORM,
    ModelFamily,
    ModelSpec,
    check_options,
    check_sizes,
    check_width,
    normal_init,
    pack_factor,
    spectral_norm_on,
)
from ganforge.models.layers import Maxout, ProjectionDiscriminator, apply_spectral_norm, class_labels

OPTIONS = (SPECTRAL_NORM, PACK, ARCH)
SPECTRAL_NORM_DEFAULT = False  # neither the vanilla GAN nor PacGAN normalises D
PACGAN_G_UNITS, PACGAN_G_LAYERS = 400, 4
PACGAN_D_UNITS, PACGAN_D_PIECES, PACGAN_D_LAYERS = 200, 5, 3


def _sample_shape(spec: ModelSpec) -> tuple[int, ...]:
    if spec.is_points:
        return (spec.channels,)
    return (spec.channels, spec.resolution, spec.resolution)


def _is_pacgan(spec: ModelSpec) -> bool:
    return spec.options.get("arch", "default") == "pacgan"


def _mlp(sizes: list[int], activation: nn.Module) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes, sizes[1:], strict=False):
        layers += [nn.Linear(n_in, n_out), activation]
    return layers


class MLPGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.z_dim = spec.z_dim
        self.num_classes = spec.num_classes
        self.sample_shape = _sample_shape(spec)
        out_dim = math.prod(self.sample_shape)
        # A label embedding as wide as the number of classes: a learned one-hot code (Mirza & Osindero).
        self.embed = nn.Embedding(spec.num_classes, spec.num_classes) if spec.num_classes else None
        in_dim = spec.z_dim + spec.num_classes
        if _is_pacgan(spec):
            layers: list[nn.Module] = []
            for n_in in [in_dim] + [PACGAN_G_UNITS] * (PACGAN_G_LAYERS - 1):
                # momentum 0.05: PacGAN's code moves BN's population statistics 5 % per step, and the
                # protocol scores samples drawn with those statistics
                layers += [nn.Linear(n_in, PACGAN_G_UNITS, bias=False),
                           nn.BatchNorm1d(PACGAN_G_UNITS, momentum=0.05), nn.ReLU(True)]
            layers.append(nn.Linear(PACGAN_G_UNITS, out_dim))
        elif spec.is_points:
            hidden = [4 * spec.width] * 3
            layers = _mlp([in_dim, *hidden], nn.ReLU(True)) + [nn.Linear(hidden[-1], out_dim)]
        else:
            # The fully connected image G every vanilla-GAN MNIST reproduction uses: BatchNorm on the
            # hidden layers after the first and LeakyReLU(0.2). Without BatchNorm it collapsed to one
            # digit on digits5k (D's loss 0.005 after 8000 steps).
            hidden = [4 * spec.width, 8 * spec.width, 16 * spec.width]
            layers = [nn.Linear(in_dim, hidden[0]), nn.LeakyReLU(0.2, True)]
            for n_in, n_out in zip(hidden, hidden[1:], strict=False):
                layers += [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.LeakyReLU(0.2, True)]
            layers += [nn.Linear(hidden[-1], out_dim), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        if _is_pacgan(spec):
            normal_init(self.net)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = class_labels(labels, z.shape[0], self.num_classes, "mlp generator")
        h = z if self.embed is None else torch.cat([z, self.embed(labels)], dim=1)
        return self.net(h).view(z.shape[0], *self.sample_shape)


class MLPDiscriminator(ProjectionDiscriminator):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec.channels, pack_factor(spec), spec.num_classes, "mlp discriminator")
        in_dim = math.prod(_sample_shape(spec)) * self.pack
        if _is_pacgan(spec):
            sizes = [in_dim] + [PACGAN_D_UNITS] * PACGAN_D_LAYERS
            layers: list[nn.Module] = [Maxout(n_in, n_out, PACGAN_D_PIECES)
                                       for n_in, n_out in zip(sizes, sizes[1:], strict=False)]
        else:
            hidden = [4 * spec.width] * 3 if spec.is_points else [8 * spec.width, 4 * spec.width]
            sizes = [in_dim, *hidden]
            layers = _mlp(sizes, nn.LeakyReLU(0.2, True))
        self.features = nn.Sequential(*layers)
        self.add_linear_head(sizes[-1])
        if _is_pacgan(spec):
            normal_init(self)
        if spectral_norm_on(spec, SPECTRAL_NORM_DEFAULT):
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = self.checked_labels(x, labels)
        return self.score(self.features(x.flatten(1)), labels)


def check(spec: ModelSpec) -> None:
    check_sizes(spec)
    check_width(spec)
    check_options(spec, OPTIONS)
    if _is_pacgan(spec) and not spec.is_points:
        raise GanforgeError("arch pacgan is the PacGAN 2-D toy network and takes point data (e.g. "
                            "--data toy2d:grid); drop it for images")
    if not spec.is_points and spec.resolution not in (32, 64):
        raise GanforgeError(f"mlp builds 32x32 or 64x64 images or 2-D points, not "
                            f"{spec.resolution}x{spec.resolution}; pass --resolution 32 or --resolution 64")


def build(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
    return MLPGenerator(spec), MLPDiscriminator(spec)


MLP = ModelFamily(
    "mlp",
    "vanilla fully connected GAN (Goodfellow et al. 2014) for images or points; arch pacgan: the PacGAN "
    "2-D toy networks; label embedding in G + projection D when conditional",
    build=build, check=check, data_kinds=("image", "points"), options=OPTIONS,
    spectral_norm_default=SPECTRAL_NORM_DEFAULT,
)
