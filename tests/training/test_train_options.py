"""Clipping, packing and penalties as the trainer applies them."""

from __future__ import annotations

import pytest
import torch

from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.training.update import Trainer, pack_samples


def test_clipping_keeps_every_d_weight_in_range(image_dataset, make_config) -> None:
    trainer = Trainer(make_config(loss="wasserstein", clip=0.01, lr_d=0.5, optimizer="rmsprop"), image_dataset,
                      torch.device("cpu"))
    for _ in range(2):
        trainer.train_step()
        for name, p in trainer.discriminator.named_parameters():
            assert float(p.abs().max()) <= 0.01, name
    assert max(float(p.abs().max()) for p in trainer.discriminator.parameters()) == pytest.approx(0.01)


def test_pack_groups_consecutive_samples() -> None:
    x = torch.arange(4 * 2 * 3 * 3, dtype=torch.float32).view(4, 2, 3, 3)
    packed = pack_samples(x, 2)
    assert packed.shape == (2, 4, 3, 3)
    assert torch.equal(packed[1], torch.cat([x[2], x[3]]))
    points = torch.arange(12.0).view(6, 2)
    assert pack_samples(points, 3).tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    assert pack_samples(points, 1) is points


def test_packed_discriminator_sees_groups(make_config) -> None:
    dataset = load_dataset("toy2d:ring")
    trainer = Trainer(make_config(model="mlp", data="toy2d:ring", z_dim=2, pack=2, batch_size=8), dataset,
                      torch.device("cpu"))
    shapes: list[tuple[int, ...]] = []
    forward = trainer.discriminator.forward
    trainer.discriminator.forward = lambda x, labels=None: (shapes.append(tuple(x.shape)), forward(x, labels))[1]
    trainer.train_step()
    assert shapes == [(4, 4)] * 3


def test_penalty_is_reported_and_trains_d(image_dataset, make_config) -> None:
    trainer = Trainer(make_config(loss="wasserstein", gp=10.0), image_dataset, torch.device("cpu"))
    assert trainer.columns == ("penalty_gp",)
    scalars = trainer.train_step()
    assert float(scalars["penalty_gp"]) > 0
    assert Trainer(make_config(), image_dataset, torch.device("cpu")).columns == ()


def test_augment_refuses_points(make_config) -> None:
    with pytest.raises(GanforgeError, match="--augment diffaug transforms images"):
        Trainer(make_config(model="mlp", data="toy2d:ring", augment="diffaug"), load_dataset("toy2d:ring"),
                torch.device("cpu"))


def _one_step(make_config, **overrides) -> Trainer:
    dataset = load_dataset("toy2d:ring")
    trainer = Trainer(make_config(model="mlp", data="toy2d:ring", z_dim=2, batch_size=16, **overrides), dataset,
                      torch.device("cpu"))
    trainer.train_step()
    return trainer


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.mark.parametrize("updates", ["simultaneous", "alternating"])
def test_simultaneous_updates_take_g_gradient_before_d_steps(make_config, updates: str) -> None:
    # G's gradient comes from D before its update only in simultaneous mode, so only there is G's first
    # update blind to how far D moves.
    slow, fast = (_one_step(make_config, updates=updates, lr_d=lr_d) for lr_d in (1e-4, 0.5))
    assert _same_weights(slow.generator, fast.generator) == (updates == "simultaneous")
    assert not _same_weights(slow.discriminator, fast.discriminator)


def test_update_order_leaves_d_step_unchanged(make_config) -> None:
    simultaneous, alternating = (_one_step(make_config, updates=u) for u in ("simultaneous", "alternating"))
    assert _same_weights(simultaneous.discriminator, alternating.discriminator)
    assert not _same_weights(simultaneous.generator, alternating.generator)
