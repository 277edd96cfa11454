"""SAGAN (Zhang et al. 2019) for small images: a DCGAN-shaped backbone with self-attention.

As in the paper's small-resolution setups (and the common 64 px reimplementations):
- G: z -> 4x4 transposed conv, then stride-2 transposed convs halving the channels, BN (conditional BN
  when conditional) + ReLU, one self-attention block on the 16x16 (32 px) or 32x32 map (64 and 128 px:
  the paper's ImageNet model attends at 32x32, its best place, "feat32"), a transposed conv to the image
  and tanh.
- D: stride-2 convs doubling the channels with LeakyReLU(0.1), self-attention on the same size of map
  (the first map for 32 and 64 px), down to 4x4, global sum pooling, a linear score plus the
  projection term when conditional.
- Spectral norm on every conv/linear layer of both G and D (including the attention 1x1 convs), as
  in the paper, which applies it to G as well. ``spectral_norm: false`` removes it from both: the
  option switches the family's spectral norm as a whole, wherever the family puts it.
The paper's hinge loss and TTUR learning rates are training presets, not part of the networks.
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
from ganforge.models.dcgan import discriminator_channels, generator_channels, upsampling_stem
from ganforge.models.layers import (
    ProjectionDiscriminator,
    SelfAttention2d,
    apply_spectral_norm,
    class_labels,
    run_layers,
)

OPTIONS = (SPECTRAL_NORM, PACK)
SPECTRAL_NORM_DEFAULT = True  # in G and D, as in the paper
RESOLUTIONS = (32, 64, 128)
MAX_ATTENTION_SIZE = 32  # attention over 64x64 maps would hold a 4096 x 4096 matrix per sample


def attention_size(resolution: int) -> int:
    return min(resolution // 2, MAX_ATTENTION_SIZE)


def layers_per_size(resolution: int, size: int) -> int:
    """How many maps of the G/D stem lie between 4x4 (or the image) and ``size``: log2 distance."""
    return int(math.log2(resolution // 2)) - int(math.log2(size))


class SAGANGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.z_dim = spec.z_dim
        self.num_classes = spec.num_classes
        channels = generator_channels(spec)
        stem = upsampling_stem(spec, spec.z_dim)
        # the stem has three layers (conv, BN, ReLU) per map; attention follows the map of its size
        above = layers_per_size(spec.resolution, attention_size(spec.resolution))
        at = len(stem) - 3 * above
        layers = [
            *stem[:at],
            SelfAttention2d(channels[-1 - above]),
            *stem[at:],
            nn.ConvTranspose2d(channels[-1], spec.channels, 4, 2, 1),
            nn.Tanh(),
        ]
        self.net = nn.Sequential(*layers)
        normal_init(self)
        if spectral_norm_on(spec, SPECTRAL_NORM_DEFAULT):
            apply_spectral_norm(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = class_labels(labels, z.shape[0], self.num_classes, "sagan generator")
        return run_layers(self.net, z.view(z.shape[0], self.z_dim, 1, 1), labels)


class SAGANDiscriminator(ProjectionDiscriminator):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec.channels, pack_factor(spec), spec.num_classes, "sagan discriminator")
        channels = discriminator_channels(spec)
        attend = layers_per_size(spec.resolution, attention_size(spec.resolution))  # after this conv
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip([self.in_channels, *channels], channels, strict=False)):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.1, True)]
            if i == attend:
                layers.append(SelfAttention2d(c_out))
        self.features = nn.Sequential(*layers)
        self.add_linear_head(channels[-1])
        normal_init(self)
        if spectral_norm_on(spec, SPECTRAL_NORM_DEFAULT):
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = self.checked_labels(x, labels)
        return self.score(self.features(x).sum(dim=(2, 3)), labels)  # global sum pooling, as in SAGAN/BigGAN


SAGAN = image_family(
    "sagan",
    "Self-Attention GAN (Zhang et al. 2019): DCGAN-shaped, self-attention at resolution/2 in G and D, "
    "spectral norm in both (--no-spectral-norm: in neither); conditional BN + projection D when conditional",
    SAGANGenerator, SAGANDiscriminator, OPTIONS, resolutions=RESOLUTIONS, spectral_norm_default=SPECTRAL_NORM_DEFAULT,
)
