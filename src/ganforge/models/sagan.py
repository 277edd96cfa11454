"""SAGAN (Zhang et al. 2019) for small images: a DCGAN-shaped backbone with self-attention.

As in the paper's small-resolution setups (and the common 64 px reimplementations):
- G: z -> 4x4 transposed conv, then stride-2 transposed convs halving the channels, BN (conditional BN
  when conditional) + ReLU, one self-attention block on the last hidden map (16x16 for 32 px, 32x32
  for 64 px), a transposed conv to the image and tanh.
- D: stride-2 convs doubling the channels with LeakyReLU(0.1), self-attention on the first map (16x16
  for 32 px, 32x32 for 64 px), down to 4x4, global sum pooling, a linear score plus the projection
  term when conditional.
- Spectral norm on every conv/linear layer of both G and D (including the attention 1x1 convs), as
  in the paper, which applies it to G as well. ``spectral_norm: false`` removes it from both: the
  option switches the family's spectral norm as a whole, wherever the family puts it.
The paper's hinge loss and TTUR learning rates are training presets, not part of the networks.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.models.base import ModelSpec, image_family, normal_init, pack_factor, spectral_norm_on
from ganforge.models.dcgan import discriminator_channels, generator_channels, upsampling_stem
from ganforge.models.layers import (
    ProjectionDiscriminator,
    SelfAttention2d,
    apply_spectral_norm,
    class_labels,
    run_layers,
)

OPTIONS = ("spectral_norm", "pack")
SPECTRAL_NORM_DEFAULT = True  # in G and D, as in the paper


class SAGANGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.z_dim = spec.z_dim
        self.num_classes = spec.num_classes
        channels = generator_channels(spec)
        layers = [
            *upsampling_stem(spec, spec.z_dim),
            SelfAttention2d(channels[-1]),  # at resolution / 2
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
        layers: list[nn.Module] = [
            nn.Conv2d(self.in_channels, channels[0], 4, 2, 1),
            nn.LeakyReLU(0.1, True),
            SelfAttention2d(channels[0]),  # at resolution / 2
        ]
        for c_in, c_out in zip(channels, channels[1:], strict=False):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.1, True)]
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
    SAGANGenerator, SAGANDiscriminator, OPTIONS, spectral_norm_default=SPECTRAL_NORM_DEFAULT,
)
