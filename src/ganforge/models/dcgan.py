"""DCGAN (Radford et al. 2016): transposed-conv generator, strided-conv discriminator, BatchNorm.

Generator: z -> 4x4 -> ... -> resolution, channels halving at each doubling, ReLU, tanh output.
Discriminator: the mirror image with LeakyReLU(0.2), no BN on the first layer, a 4x4 conv to one score.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.models.base import ModelFamily, ModelSpec, normal_init


def _num_upsamples(resolution: int) -> int:
    return int(math.log2(resolution)) - 2


class DCGANGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.z_dim = spec.z_dim
        self.num_classes = spec.num_classes
        n_up = _num_upsamples(spec.resolution)
        channels = [spec.width * 2 ** (n_up - 1 - i) for i in range(n_up)]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(spec.z_dim, channels[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(channels, channels[1:], strict=False):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(channels[-1], spec.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        normal_init(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.num_classes = spec.num_classes
        n_down = _num_upsamples(spec.resolution)
        channels = [spec.width * 2**i for i in range(n_down)]
        layers: list[nn.Module] = [nn.Conv2d(spec.channels, channels[0], 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(channels, channels[1:], strict=False):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(channels[-1], 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        normal_init(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).view(x.shape[0])


def check(spec: ModelSpec) -> None:
    if spec.resolution not in (32, 64):
        raise GanforgeError(
            f"dcgan builds 32x32 or 64x64 images, not {spec.resolution}x{spec.resolution}; "
            "pass --resolution 32 or --resolution 64"
        )
    if spec.num_classes:
        raise GanforgeError("dcgan is unconditional here; drop --conditional")


def build(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
    return DCGANGenerator(spec), DCGANDiscriminator(spec)


DCGAN = ModelFamily("dcgan", "DCGAN (Radford et al. 2016), 32 or 64 px, BatchNorm", build=build, check=check)
