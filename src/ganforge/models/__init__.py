"""Model families and their registry; saving generators without pickle (ganforge.loader reads them)."""

from __future__ import annotations

from torch import nn

from ganforge.models.base import ModelFamily, ModelSpec, normal_init, sample_noise
from ganforge.models.dcgan import DCGAN
from ganforge.models.io import save_generator
from ganforge.models.mlp import MLP
from ganforge.models.r3gan import R3GAN
from ganforge.models.sagan import SAGAN
from ganforge.models.sngan import SNGAN
from ganforge.registry import Registry

MODELS: Registry[ModelFamily] = Registry("model", plugin_group="ganforge.models")
for _family in (DCGAN, MLP, R3GAN, SAGAN, SNGAN):
    MODELS.register(_family.name, _family)
    for _alias in _family.aliases:
        MODELS.alias(_alias, _family.name)


def build_gan(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
    """Build (generator, discriminator) for ``spec`` after the family has checked it."""
    family = MODELS.get(spec.family)
    family.check(spec)
    return family.build(spec)


def models_help() -> str:
    """The registered families, one per line, for ``--help`` and error messages."""
    return "\n".join(MODELS.get(name).summary for name in MODELS.names())


__all__ = ["MODELS", "ModelFamily", "ModelSpec", "build_gan", "models_help",
           "normal_init", "sample_noise", "save_generator"]
