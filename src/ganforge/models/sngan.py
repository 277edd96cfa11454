"""SNGAN: the ResNet generator and discriminator of Miyato et al. 2018 (the CIFAR-10 architecture).

Registered as ``sngan``; ``resnet``, its former name, still finds it (old generator.json files say so).
G: z -> linear -> 4x4 x (4*width) -> up-ResBlocks (3 for 32 px, 4 for 64 px) -> BN, ReLU, conv3x3, tanh.
D: optimized first block (down), one (32 px) or two (64 px) down ResBlocks, two plain ResBlocks, ReLU,
global sum pooling, linear; 2*width channels; no BatchNorm or LayerNorm; spectral norm on every layer
by default. With width 64 this is exactly the paper's CIFAR model (256 channels in G, 128 in D).
``spectral_norm: false`` leaves D unnormalised: then it is the WGAN-GP CIFAR critic (Gulrajani et al.
2017), up to its mean pooling. Conditional: CBN in the G blocks, projection D (Miyato & Koyama 2018).
Init as in the reference code: Glorot-uniform with gain sqrt(2) on the residual convs, gain 1 elsewhere.

At 48 and 128 px the networks are the paper's STL-10 (48) and ImageNet (128) ResNets as Mimicry builds
them (``sngan_48.py``, ``sngan_128.py``): G starts at 6x6 (48 px) or 4x4 with 8 x width (48) or 16 x width
(128) channels, halved per block (128: the first block keeps them) down to width; D doubles from width
after the optimized block up to 16 x width, the last block without downsampling. Width 64 gives
Mimicry's numbers (ngf 512 / 1024, ndf 1024). Upsampling is nearest, as in the paper's Chainer code,
where Mimicry interpolates bilinearly. 32 and 64 px keep the CIFAR layout above.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.models.base import PACK, SPECTRAL_NORM, ModelSpec, image_family, pack_factor, spectral_norm_on
from ganforge.models.layers import (
    ProjectionDiscriminator,
    apply_norm,
    apply_spectral_norm,
    batch_norm2d,
    class_labels,
    xavier_init,
)

OPTIONS = (SPECTRAL_NORM, PACK)
SPECTRAL_NORM_DEFAULT = True  # the paper's method: spectral norm on every D layer
RESIDUAL_GAIN = math.sqrt(2)
RESOLUTIONS = (32, 48, 64, 128)
CIFAR_LAYOUT = (32, 64)  # constant width; 48 and 128 px: channels halving per doubling (Mimicry)


def _num_up_blocks(resolution: int) -> int:
    return int(math.log2(resolution)) - 2  # from 4x4


def bottom_size(resolution: int) -> int:
    return 6 if resolution == 48 else 4


def generator_widths(spec: ModelSpec) -> list[int]:
    """Channels of G's input map and after each up-block."""
    if spec.resolution in CIFAR_LAYOUT:
        return [4 * spec.width] * (_num_up_blocks(spec.resolution) + 1)
    if spec.resolution == 48:
        return [spec.width * 8 >> i for i in range(4)]
    return [16 * spec.width] + [spec.width * 16 >> i for i in range(5)]  # 128 px


def discriminator_widths(spec: ModelSpec) -> list[int]:
    """Channels after the optimized block and after each following block (the last two keep the size)."""
    if spec.resolution in CIFAR_LAYOUT:
        return [2 * spec.width] * (_num_up_blocks(spec.resolution) + 1)
    doublings = 5 if spec.resolution == 48 else 6  # 48: 4 down + 1 plain; 128: 5 down + 1 plain
    return [min(spec.width << i, 16 * spec.width) for i in range(doublings)]


class GBlock(nn.Module):
    """BN-ReLU-up-conv3x3-BN-ReLU-conv3x3, plus a 1x1-conv shortcut (learnable, since it upsamples)."""

    def __init__(self, in_channels: int, out_channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn1 = batch_norm2d(in_channels, num_classes)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.bn2 = batch_norm2d(out_channels, num_classes)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1)
        xavier_init(self, RESIDUAL_GAIN)
        xavier_init(self.shortcut)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h = F.relu(apply_norm(self.bn1, x, labels))
        h = self.conv1(F.interpolate(h, scale_factor=2))
        h = self.conv2(F.relu(apply_norm(self.bn2, h, labels)))
        # A 1x1 conv commutes with nearest upsampling, so convolving first is the same map at 1/4 the cost.
        return h + F.interpolate(self.shortcut(x), scale_factor=2)


class DBlock(nn.Module):
    """ReLU-conv3x3-ReLU-conv3x3 (then 2x2 average pooling when downsampling), plus a shortcut."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool) -> None:
        super().__init__()
        self.downsample = downsample
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        learnable = downsample or in_channels != out_channels
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if learnable else None
        xavier_init(self, RESIDUAL_GAIN)
        if self.shortcut is not None:
            xavier_init(self.shortcut)

    def _down(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(F.relu(x))))
        skip = x if self.shortcut is None else self._down(self.shortcut(x))
        return self._down(h) + skip


class OptimizedDBlock(nn.Module):
    """D's first block: no ReLU before the first conv (it would clip the image), shortcut pools first."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1)
        xavier_init(self, RESIDUAL_GAIN)
        xavier_init(self.shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), 2)
        return h + self.shortcut(F.avg_pool2d(x, 2))


class SNGANGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.z_dim = spec.z_dim
        self.num_classes = spec.num_classes
        widths = generator_widths(spec)
        self.channels = widths[0]
        self.bottom = bottom_size(spec.resolution)
        self.linear = nn.Linear(spec.z_dim, self.bottom**2 * self.channels)
        self.blocks = nn.ModuleList(GBlock(c_in, c_out, spec.num_classes)
                                    for c_in, c_out in zip(widths, widths[1:], strict=False))
        self.bn = nn.BatchNorm2d(widths[-1])
        self.conv_out = nn.Conv2d(widths[-1], spec.channels, 3, 1, 1)
        xavier_init(self.linear)
        xavier_init(self.conv_out)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = class_labels(labels, z.shape[0], self.num_classes, "sngan generator")
        h = self.linear(z).view(z.shape[0], self.channels, self.bottom, self.bottom)
        for block in self.blocks:
            h = block(h, labels)
        return torch.tanh(self.conv_out(F.relu(self.bn(h))))


class SNGANDiscriminator(ProjectionDiscriminator):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec.channels, pack_factor(spec), spec.num_classes, "sngan discriminator")
        widths = discriminator_widths(spec)
        plain = 2 if spec.resolution in CIFAR_LAYOUT else 1  # blocks at the end that keep the size
        blocks: list[nn.Module] = [OptimizedDBlock(self.in_channels, widths[0])]
        blocks += [DBlock(c_in, c_out, downsample=i < len(widths) - 1 - plain)
                   for i, (c_in, c_out) in enumerate(zip(widths, widths[1:], strict=False))]
        self.blocks = nn.Sequential(*blocks)
        self.add_linear_head(widths[-1], init=xavier_init)
        if spectral_norm_on(spec, SPECTRAL_NORM_DEFAULT):
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = self.checked_labels(x, labels)
        return self.score(F.relu(self.blocks(x)).sum(dim=(2, 3)), labels)


SNGAN = image_family(
    "sngan",
    "SNGAN ResNet (Miyato et al. 2018, CIFAR architecture; one more block each at 64 px; the STL-10 and "
    "ImageNet ResNets at 48 and 128 px, as Mimicry): spectral norm in D (--no-spectral-norm: none, the "
    "WGAN-GP critic); conditional BN + projection D when conditional",
    SNGANGenerator, SNGANDiscriminator, OPTIONS, resolutions=RESOLUTIONS,
    spectral_norm_default=SPECTRAL_NORM_DEFAULT,
    aliases=("resnet",),
)
