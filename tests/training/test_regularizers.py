"""Regularizers as registry entries: train_step applies whatever is registered, lazily when asked."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import torch

from ganforge.config import TrainConfig
from ganforge.regularizers import REGULARIZERS, PenaltyInputs, Regularizer
from ganforge.training.update import Trainer


@dataclasses.dataclass
class ToyConfig(TrainConfig):
    """A config with one more key, as a plugin regularizer would add to TrainConfig."""

    toy: float = 0.0


def _weight_decay(player: str):
    """A toy penalty 0.5 * weight * ||theta||^2 on D's or G's parameters: its gradient is weight * theta."""

    def penalty(inputs: PenaltyInputs, weight: float) -> torch.Tensor:
        module = inputs.discriminator if player == "d" else inputs.generator
        return 0.5 * weight * sum(p.pow(2).sum() for p in module.parameters())

    return penalty


@pytest.fixture
def toy_regularizer(request) -> Iterator[str]:
    player = request.param
    REGULARIZERS.register("toy", Regularizer("toy", "weight decay, for the test", weight_key="toy", player=player,
                                             penalty=_weight_decay(player), interval_key="reg_every"))
    try:
        yield player
    finally:
        REGULARIZERS.unregister("toy")


def _trainer(make_config, dataset, **overrides) -> Trainer:
    base = make_config(**{k: v for k, v in overrides.items() if k != "toy"})
    config = ToyConfig(**dataclasses.asdict(base), toy=overrides.get("toy", 0.0))
    return Trainer(config, dataset, torch.device("cpu"))


@pytest.mark.parametrize("toy_regularizer", ["d", "g"], indirect=True)
def test_a_regularizer_registered_at_runtime_is_applied(toy_regularizer: str, image_dataset, make_config) -> None:
    weight = 0.5
    off = _trainer(make_config, image_dataset)
    on = _trainer(make_config, image_dataset, toy=weight)
    assert on.columns == ("penalty_toy",)
    network = {"d": lambda t: t.discriminator, "g": lambda t: t.generator}[toy_regularizer]
    before = [p.detach().clone() for p in network(on).parameters()]
    off.train_step()
    scalars = on.train_step()
    # the penalty's gradient joined the player's loss gradient in the same backward
    for p_on, p_off, theta in zip(network(on).parameters(), network(off).parameters(), before, strict=True):
        torch.testing.assert_close(p_on.grad - p_off.grad, weight * theta, rtol=1e-4, atol=1e-6)
    key = "penalty_toy"
    expected = 0.5 * weight * sum(float(t.pow(2).sum()) for t in before)
    assert float(scalars[key]) == pytest.approx(expected, rel=1e-5)


def test_an_unregistered_regularizer_is_gone(image_dataset, make_config) -> None:
    REGULARIZERS.register("toy", Regularizer("toy", "", weight_key="toy", player="d", penalty=_weight_decay("d")))
    REGULARIZERS.unregister("toy")
    assert "toy" not in REGULARIZERS
    assert _trainer(make_config, image_dataset, toy=1.0).columns == ()


def test_lazy_regularization_every_k_steps_with_k_times_the_weight(image_dataset, make_config) -> None:
    calls: list[tuple[int, float]] = []
    trainer: Trainer | None = None

    def recorded(inputs: PenaltyInputs, weight: float) -> torch.Tensor:
        calls.append((trainer.step, weight))
        return inputs.real.new_zeros(())

    REGULARIZERS.register("toy", Regularizer("toy", "", weight_key="toy", player="d", penalty=recorded,
                                             interval_key="reg_every"))
    try:
        trainer = _trainer(make_config, image_dataset, toy=0.25, reg_every=3, n_critic=2)
        for _ in range(7):
            trainer.train_step()
    finally:
        REGULARIZERS.unregister("toy")
    # steps 0, 3 and 6, in both of their D updates, with 3 x 0.25
    assert calls == [(0, 0.75), (0, 0.75), (3, 0.75), (3, 0.75), (6, 0.75), (6, 0.75)]


def test_lazy_r1_is_r1_with_k_times_the_weight_every_k_steps(image_dataset, make_config) -> None:
    lazy = Trainer(make_config(r1=1.0, reg_every=2), image_dataset, torch.device("cpu"))
    eager = Trainer(make_config(r1=2.0), image_dataset, torch.device("cpu"))
    first_lazy, first_eager = lazy.train_step(), eager.train_step()
    assert torch.equal(first_lazy["penalty_r1"], first_eager["penalty_r1"]) and float(first_lazy["penalty_r1"]) > 0
    for a, b in zip(lazy.discriminator.parameters(), eager.discriminator.parameters(), strict=True):
        assert torch.equal(a, b)  # the same step, computed the same way
    assert float(lazy.train_step()["penalty_r1"]) == 0.0 and float(eager.train_step()["penalty_r1"]) > 0
    assert float(lazy.train_step()["penalty_r1"]) > 0
