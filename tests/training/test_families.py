"""Every registered model family x every loss x (un)conditional trains at 32 px without NaN.

Parametrized over the registries at collection time, so a new family or loss is covered automatically.
"""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.losses import LOSSES
from ganforge.models import MODELS
from ganforge.training.update import Trainer

IMAGE_FAMILIES = [name for name in MODELS.names() if "image" in MODELS.get(name).data_kinds]
POINT_FAMILIES = [name for name in MODELS.names() if "points" in MODELS.get(name).data_kinds]


def _assert_finite_steps(trainer: Trainer, steps: int = 2) -> None:
    for _ in range(steps):
        scalars = trainer.train_step()
        for key, value in scalars.items():
            assert math.isfinite(float(value)), f"{key} = {float(value)}"
    for name, tensor in {**trainer.generator.state_dict(), **trainer.discriminator.state_dict()}.items():
        if tensor.is_floating_point():
            assert torch.isfinite(tensor).all(), name
    samples = trainer.fixed_samples()
    assert torch.isfinite(samples).all()


def test_the_field_is_registered() -> None:
    assert {"dcgan", "mlp", "sagan", "sngan"} <= set(MODELS.names())


@pytest.mark.parametrize("conditional", [False, True], ids=["uncond", "cond"])
@pytest.mark.parametrize("loss", LOSSES.names())
@pytest.mark.parametrize("model", IMAGE_FAMILIES)
def test_family_loss_trains_at_32px(model: str, loss: str, conditional: bool, image_dataset, make_config) -> None:
    config = make_config(model=model, loss=loss, conditional=conditional)
    trainer = Trainer(config, image_dataset, torch.device("cpu"))
    assert trainer.spec.num_classes == (4 if conditional else 0)
    _assert_finite_steps(trainer)
    if conditional:  # one grid row per class, 8 fixed latents per row
        assert trainer.fixed_samples().shape == (4 * 8, 1, 32, 32)


REGULARIZED = {
    "gp": {"gp": 10.0, "loss": "wasserstein", "n_critic": 2},
    "r1": {"r1": 1.0},
    "clip": {"clip": 0.01, "loss": "wasserstein", "optimizer": "rmsprop"},
    "sn": {"spectral_norm": True, "loss": "hinge"},
    "pack2": {"pack": 2},
    "ema-diffaug": {"ema_kimg": 0.01, "augment": "diffaug"},
}
# a family takes a model option only where it declares it (r3gan has no spectral norm: no normalization)
REGULARIZED_CASES = [(model, name) for model in IMAGE_FAMILIES for name, options in REGULARIZED.items()
                     if all(key in MODELS.get(model).options for key in ("spectral_norm", "pack") if key in options)]


@pytest.mark.parametrize(("model", "name"), REGULARIZED_CASES, ids=[f"{m}-{n}" for m, n in REGULARIZED_CASES])
def test_family_with_regularizers(model: str, name: str, image_dataset, make_config) -> None:
    trainer = Trainer(make_config(model=model, **REGULARIZED[name]), image_dataset, torch.device("cpu"))
    _assert_finite_steps(trainer)


SIZES = [(name, size) for name in IMAGE_FAMILIES for size in MODELS.get(name).resolutions]


def tiny_options(model: str, size: int) -> dict[str, object]:
    """Width 8 everywhere: r3gan's widths halve above 32 px, so its stages are listed."""
    if model == "r3gan":
        return {"stage_widths": ",".join(["8"] * (int(math.log2(size)) - 1))}
    return {}


@pytest.mark.parametrize(("model", "size"), SIZES, ids=[f"{m}-{s}px" for m, s in SIZES])
def test_every_family_trains_at_each_of_its_sizes(model: str, size: int, make_config, make_images) -> None:
    dataset = make_images(num=8, classes=2, resolution=size, channels=1)
    config = make_config(model=model, conditional=True, **tiny_options(model, size))
    trainer = Trainer(config, dataset, torch.device("cpu"))
    assert trainer.spec.resolution == size
    _assert_finite_steps(trainer)
    assert trainer.fixed_samples().shape[1:] == (1, size, size)


@pytest.mark.parametrize("conditional", [False, True], ids=["uncond", "cond"])
@pytest.mark.parametrize("model", POINT_FAMILIES)
def test_point_families_train_on_toy2d(model: str, conditional: bool, make_config) -> None:
    from ganforge.data import load_dataset

    dataset = load_dataset("toy2d:grid")
    trainer = Trainer(make_config(model=model, data="toy2d:grid", z_dim=2, conditional=conditional, r1=1.0),
                      dataset, torch.device("cpu"))
    _assert_finite_steps(trainer)
    assert trainer.fixed_samples().shape == (64, 2)
