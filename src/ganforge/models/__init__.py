"""Model families and their registry; saving and loading generators without pickle."""

from __future__ import annotations

from ganforge.models.base import ModelFamily, ModelSpec, normal_init, sample_noise
from ganforge.models.dcgan import DCGAN
from ganforge.models.io import load_generator, save_generator
from ganforge.registry import Registry

MODELS: Registry[ModelFamily] = Registry("model")
for _family in (DCGAN,):
    MODELS.register(_family.name, _family)


def build_gan(spec: ModelSpec):
    """Build (generator, discriminator) for ``spec`` after the family has checked it."""
    family = MODELS.get(spec.family)
    family.check(spec)
    return family.build(spec)


__all__ = ["MODELS", "ModelFamily", "ModelSpec", "build_gan", "load_generator", "normal_init",
           "sample_noise", "save_generator"]
