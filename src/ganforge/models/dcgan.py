"""DCGAN (Radford et al. 2016): transposed-conv generator, strided-conv discriminator, BatchNorm.

Generator: z -> 4x4 -> ... -> resolution, channels halving at each doubling, ReLU, tanh output; a stage
per doubling, so 32, 64 (the paper's) and 128 px (1024 channels at 4x4 with width 64).
Discriminator: the mirror image with LeakyReLU(0.2), no BN on the first layer, a 4x4 conv to one score.
Conditional: G concatenates a learned class code to z (Mirza & Osindero's input conditioning) and uses
class-conditional BN; D adds a projection term on its last feature map (Miyato & Koyama 2018).
Unconditional state_dict keys are those of the plain Sequential, so older generator files still load.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganforge.models.base import (
    PACK,
    SPECTRAL_NORM,
    ModelSpec,
    image_family,
    normal_init,
    pack_factor,
    spectral_norm_on,
)
from ganforge.models.layers import (
    ClassProjection,
    ProjectionDiscriminator,
    apply_spectral_norm,
    batch_norm2d,
    class_labels,
    run_layers,
    with_projection,
)

OPTIONS = (SPECTRAL_NORM, PACK)
SPECTRAL_NORM_DEFAULT = False  # the paper's D normalises with BatchNorm
RESOLUTIONS = (32, 64, 128)  # a stage per doubling from 4x4; 64 px is the paper's (and its code's) size


def _num_upsamples(resolution: int) -> int:
    return int(math.log2(resolution)) - 2


def generator_channels(spec: ModelSpec) -> list[int]:
    """Feature channels from 4x4 up to resolution/2: width * 2^(n-1), ..., width."""
    n_up = _num_upsamples(spec.resolution)
    return [spec.width * 2 ** (n_up - 1 - i) for i in range(n_up)]


def discriminator_channels(spec: ModelSpec) -> list[int]:
    """Feature channels from resolution/2 down to 4x4: width, ..., width * 2^(n-1)."""
    return generator_channels(spec)[::-1]


def upsampling_stem(spec: ModelSpec, in_dim: int) -> list[nn.Module]:
    """The DCGAN-shaped G body: a 1x1 input to 4x4, then stride-2 transposed convs up to resolution/2,
    each with (conditional) BatchNorm and ReLU. DCGAN and SAGAN add their own last layers."""
    k = spec.num_classes
    channels = generator_channels(spec)
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(in_dim, channels[0], 4, 1, 0, bias=False),
        batch_norm2d(channels[0], k),
        nn.ReLU(True),
    ]
    for c_in, c_out in zip(channels, channels[1:], strict=False):
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), batch_norm2d(c_out, k), nn.ReLU(True)]
    return layers


class DCGANGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.z_dim = spec.z_dim
        self.num_classes = spec.num_classes
        k = spec.num_classes
        channels = generator_channels(spec)
        # The class code enters with z at full strength from step one. Conditional BN alone starts as
        # plain BN (identity gains) and, at DCGAN's learning rates, needs thousands of steps before the
        # class changes the image: 800 CPU steps on digits5k drew the asked-for digit 15 % of the time.
        self.embed = nn.Embedding(k, k) if k else None
        layers = [*upsampling_stem(spec, spec.z_dim + k),
                  nn.ConvTranspose2d(channels[-1], spec.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        normal_init(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = class_labels(labels, z.shape[0], self.num_classes, "dcgan generator")
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels).to(z.dtype)], dim=1)
        return run_layers(self.net, z.view(*z.shape, 1, 1), labels)


class DCGANDiscriminator(ProjectionDiscriminator):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec.channels, pack_factor(spec), spec.num_classes, "dcgan discriminator")
        sn = spectral_norm_on(spec, SPECTRAL_NORM_DEFAULT)
        channels = discriminator_channels(spec)
        # With spectral norm, BatchNorm goes (as in SNGAN's standard CNN): dividing by the batch std
        # would undo the Lipschitz bound SN buys. Convs then keep their biases, as nothing absorbs them.
        layers: list[nn.Module] = [nn.Conv2d(self.in_channels, channels[0], 4, 2, 1, bias=sn),
                                   nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(channels, channels[1:], strict=False):
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=sn))
            if not sn:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, True))
        # The final 4x4 conv is psi, a linear map of the flattened 4x4 features phi.
        layers.append(nn.Conv2d(channels[-1], 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        self.projection = ClassProjection(spec.num_classes, channels[-1] * 16) if spec.num_classes else None
        normal_init(self)
        if sn:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = self.checked_labels(x, labels)
        features = self.net[:-1](x)
        scores = self.net[-1](features).view(x.shape[0])  # psi: the final 4x4 conv, linear in phi
        return with_projection(scores, self.projection, features.flatten(1), labels)


DCGAN = image_family(
    "dcgan",
    "DCGAN (Radford et al. 2016): transposed convs + BatchNorm; when conditional a class code on z and "
    "conditional BN in G, a projection D; --spectral-norm swaps D's BatchNorm for spectral norm",
    DCGANGenerator, DCGANDiscriminator, OPTIONS, resolutions=RESOLUTIONS, spectral_norm_default=SPECTRAL_NORM_DEFAULT,
)
