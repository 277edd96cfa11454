"""The relativistic pairing loss (rpgan) in the training step: G's loss sees D's scores of the real batch."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from ganforge.data import load_dataset
from ganforge.losses import LOSSES
from ganforge.training.update import Trainer


def _finite_steps(trainer: Trainer, steps: int = 3) -> None:
    for _ in range(steps):
        scalars = trainer.train_step()
        assert all(math.isfinite(float(v)) for v in scalars.values()), scalars


def test_rpgan_with_r1_and_r2_trains_on_tiny_images(image_dataset, make_config) -> None:
    trainer = Trainer(make_config(loss="rpgan", r1=0.1, r2=0.1), image_dataset, torch.device("cpu"))
    _finite_steps(trainer)
    scalars = trainer.train_step()
    assert float(scalars["penalty_r1"]) > 0 and float(scalars["penalty_r2"]) > 0


def test_rpgan_trains_on_toy2d(make_config) -> None:
    dataset = load_dataset("toy2d:ring")
    trainer = Trainer(make_config(model="mlp", data="toy2d:ring", z_dim=2, batch_size=16, loss="rpgan", r1=1.0,
                                  r2=1.0), dataset, torch.device("cpu"))
    _finite_steps(trainer, steps=5)


def _recording(name: str, seen: dict[str, list]) -> object:
    """The registered loss ``name``, recording the scores its D and G losses are given."""
    loss = LOSSES.get(name)

    def d_loss(real, fake):
        seen["d"].append(real.detach().clone())
        return loss.d_loss(real, fake)

    def g_loss(real, fake):
        seen["g"].append(None if real is None else real.detach().clone())
        return loss.g_loss(real, fake)

    return dataclasses.replace(loss, d_loss=d_loss, g_loss=g_loss)


@pytest.mark.parametrize("updates", ["simultaneous", "alternating"])
def test_relativistic_g_loss_receives_the_real_scores(image_dataset, make_config, updates: str) -> None:
    trainer = Trainer(make_config(loss="rpgan", updates=updates), image_dataset, torch.device("cpu"))
    seen: dict[str, list] = {"d": [], "g": []}
    trainer.loss = _recording("rpgan", seen)
    trainer.train_step()
    (g_real,) = seen["g"]
    assert g_real is not None and g_real.shape == (4,)
    if updates == "simultaneous":  # the same D and the same real batch as D's update: the same scores
        torch.testing.assert_close(g_real, seen["d"][0])
    else:  # scored by the updated D
        assert not torch.allclose(g_real, seen["d"][0])


@pytest.mark.parametrize(("name", "d_calls"), [("bce", 3), ("rpgan", 4)])  # real, fake, G's fake (+ G's real)
def test_g_step_scores_the_real_batch_only_for_relativistic_losses(name: str, d_calls: int, image_dataset,
                                                                   make_config) -> None:
    trainer = Trainer(make_config(loss=name), image_dataset, torch.device("cpu"))
    seen: dict[str, list] = {"d": [], "g": []}
    trainer.loss = _recording(name, seen)
    calls: list[int] = []
    forward = trainer.discriminator.forward
    trainer.discriminator.forward = lambda x, labels=None: (calls.append(1), forward(x, labels))[1]
    trainer.train_step()
    assert len(calls) == d_calls
    assert (seen["g"][0] is None) == (name == "bce")
