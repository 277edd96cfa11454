"""What every model family provides, and the spec that rebuilds a generator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a network pair; serialized into generator.json.

    ``resolution`` is 0 for point data, where ``channels`` is the data dimension.
    """

    family: str
    z_dim: int
    resolution: int
    channels: int
    num_classes: int = 0
    width: int = 64
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        return cls(**data)


@dataclass(frozen=True)
class ModelFamily:
    """A registered family: ``build(spec) -> (generator, discriminator)``.

    ``check(spec)`` raises GanforgeError for specs the family cannot build (e.g. an unsupported
    resolution), before any weights are allocated.
    """

    name: str
    description: str
    build: Callable[[ModelSpec], tuple[nn.Module, nn.Module]]
    check: Callable[[ModelSpec], None]
    resolutions: tuple[int, ...] = (32, 64)
    data_kinds: tuple[str, ...] = ("image",)


def normal_init(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN initialisation: conv/linear weights N(0, std), BN gamma N(1, std), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.BatchNorm1d)) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, std)
            nn.init.zeros_(layer.bias)


def sample_noise(num: int, z_dim: int, *, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard normal latents; with a seeded CPU generator the same seed gives the same z anywhere."""
    return torch.randn(num, z_dim, generator=generator).to(device)
