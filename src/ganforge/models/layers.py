"""Layers the families share: spectral norm, conditional BatchNorm, self-attention, the projection
discriminator's class term, maxout, and the label checks every conditional network makes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

SN_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


# -- labels ------------------------------------------------------------------------------------------

def class_labels(labels: torch.Tensor | None, batch: int, num_classes: int, who: str) -> torch.Tensor | None:
    """The labels a network uses: None when unconditional (whatever was passed), else checked labels.

    Only shape and dtype are checked: a value-range check would force a host sync every step.
    """
    if num_classes == 0:
        return None
    if labels is None:
        raise ValueError(f"the {who} is conditional ({num_classes} classes): pass labels, "
                         f"an int64 tensor of shape ({batch},) with values in [0, {num_classes})")
    if labels.shape != (batch,) or labels.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"the {who} needs int64 labels of shape ({batch},), "
                         f"got {labels.dtype} {tuple(labels.shape)}")
    return labels


def check_channels(x: torch.Tensor, expected: int, who: str) -> None:
    """A readable error for the usual integration slip: a packed D fed unpacked batches (or back)."""
    if x.dim() < 2 or x.shape[1] != expected:
        raise ValueError(f"the {who} expects inputs with {expected} channels/features (channels x pack), "
                         f"got shape {tuple(x.shape)}")


# -- spectral norm -------------------------------------------------------------------------------------

def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectrally normalise every conv/linear weight under ``module`` and every class-projection embedding.

    Call it after weight initialisation: registering runs 15 power iterations on the weights as they
    are, and re-initialising ``original`` later would leave the singular-vector estimates stale.
    Conditional-BN embeddings are left alone: they are gains, not a linear map D applies to x.
    """
    for layer in list(module.modules()):
        target = layer.embed if isinstance(layer, ClassProjection) else layer
        if isinstance(layer, (*SN_LAYERS, ClassProjection)) and not parametrize.is_parametrized(target, "weight"):
            spectral_norm(target)
    return module


def xavier_init(module: nn.Module, gain: float = 1.0) -> None:
    """Glorot-uniform weights and zero biases for the conv/linear layers under ``module`` (SNGAN init)."""
    for layer in module.modules():
        if isinstance(layer, SN_LAYERS):
            nn.init.xavier_uniform_(layer.weight, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


# -- conditional batch norm ------------------------------------------------------------------------------

class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose gain and bias are looked up per class (de Vries et al. 2017; SNGAN/SAGAN G)."""

    def __init__(self, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        # Identity affine at start, so every class begins as plain BatchNorm.
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gain = self.gain(labels)[:, :, None, None]
        bias = self.bias(labels)[:, :, None, None]
        return self.bn(x) * gain + bias


def batch_norm2d(num_features: int, num_classes: int) -> nn.Module:
    """Plain BatchNorm2d when unconditional (so unconditional state_dicts keep their keys), else CBN."""
    if num_classes > 0:
        return ConditionalBatchNorm2d(num_features, num_classes)
    return nn.BatchNorm2d(num_features)


def apply_norm(norm: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return norm(x, labels) if isinstance(norm, ConditionalBatchNorm2d) else norm(x)


def run_layers(layers: Iterable[nn.Module], x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Like nn.Sequential, but hands the labels to the conditional BatchNorms."""
    for layer in layers:
        x = apply_norm(layer, x, labels)
    return x


# -- self-attention ----------------------------------------------------------------------------------------

class SelfAttention2d(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): x + gamma * o(softmax(q^T k) v), gamma starting at 0.

    Query, key and value are 1x1 convs to C/8 channels and ``out`` maps back to C, as in the paper's
    W_f, W_g, W_h (C/8 x C) and W_v (C x C/8). No 1/sqrt(d) scaling, as in the paper.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv2d(channels, inner, 1, bias=False)
        self.key = nn.Conv2d(channels, inner, 1, bias=False)
        self.value = nn.Conv2d(channels, inner, 1, bias=False)
        self.out = nn.Conv2d(inner, channels, 1, bias=False)
        # Zero gamma: the block starts as the identity and the network first learns local structure.
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        q = self.query(x).flatten(2)  # (N, C', HW)
        k = self.key(x).flatten(2)
        v = self.value(x).flatten(2)
        # Explicit matmuls rather than F.scaled_dot_product_attention: the fused GPU kernels have no
        # double backward, which gradient penalties and R1 need through D.
        attention = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (N, HW query, HW key)
        attended = (v @ attention.transpose(1, 2)).view(n, -1, h, w)
        return x + self.gamma * self.out(attended)


# -- projection discriminator --------------------------------------------------------------------------------

class ClassProjection(nn.Module):
    """The class term of a projection discriminator (Miyato & Koyama 2018): <embed(y), phi(x)>.

    The family adds it to its unconditional output psi(phi(x)).
    """

    def __init__(self, num_classes: int, features: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, features)
        # Glorot as in the reference code; N(0, 1) rows would swamp psi(phi) when phi is wide.
        nn.init.xavier_uniform_(self.embed.weight)

    def forward(self, phi: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (self.embed(labels) * phi).sum(dim=1)


def with_projection(scores: torch.Tensor, projection: ClassProjection | None, phi: torch.Tensor,
                    labels: torch.Tensor | None) -> torch.Tensor:
    """A projection D's output: its unconditional scores psi(phi), plus <embed(y), phi> when conditional."""
    return scores if projection is None else scores + projection(phi, labels)


class ProjectionDiscriminator(nn.Module):
    """What every family's D shares: PacGAN input width, the input/label checks, the projection score.

    Subclasses build their feature extractor and, where their psi is a linear layer on pooled features,
    call ``add_linear_head``; ``score`` is then psi(phi) plus the class term when conditional.
    """

    def __init__(self, in_channels: int, pack: int, num_classes: int, who: str) -> None:
        super().__init__()
        self.who = who
        self.num_classes = num_classes
        self.pack = pack
        self.in_channels = in_channels * pack
        self.projection: ClassProjection | None = None

    def add_linear_head(self, features: int, init: Callable[[nn.Module], None] | None = None) -> None:
        """psi = a linear layer on ``features`` (``init`` applied to it), then the class embedding."""
        self.linear = nn.Linear(features, 1)
        if init is not None:
            init(self.linear)
        self.projection = ClassProjection(self.num_classes, features) if self.num_classes else None

    def checked_labels(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
        check_channels(x, self.in_channels, self.who)
        return class_labels(labels, x.shape[0], self.num_classes, self.who)

    def score(self, phi: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return with_projection(self.linear(phi).squeeze(1), self.projection, phi, labels)


# -- maxout ----------------------------------------------------------------------------------------------------

class Maxout(nn.Module):
    """Maxout unit layer (Goodfellow et al. 2013): the max over ``pieces`` affine maps per unit."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(dim=-1)
