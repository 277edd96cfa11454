"""Losses and regularizers: values on hand-made scores and analytic gradient penalties."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganforge.losses import LOSSES
from ganforge.regularizers import (
    REGULARIZERS,
    Regularizer,
    clip_weights_,
    gradient_penalty,
    r1_penalty,
    r2_penalty,
)


class LinearCritic(nn.Module):
    """D(x) = w . flatten(x) + b: its input gradient is w everywhere, so penalties are known exactly."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(torch.tensor(0.3))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return x.flatten(1) @ self.weight + self.bias


def test_every_loss_is_registered() -> None:
    assert set(LOSSES.names()) >= {"bce", "minimax", "lsgan", "hinge", "wasserstein"}


@pytest.mark.parametrize(("name", "d_value", "g_value"), [
    ("bce", 2 * math.log(2), math.log(2)),
    ("minimax", 2 * math.log(2), -math.log(2)),
    ("lsgan", 0.5, 0.5),
    ("hinge", 2.0, 0.0),
    ("wasserstein", 0.0, 0.0),
])
def test_losses_at_zero_scores(name: str, d_value: float, g_value: float) -> None:
    zeros = torch.zeros(5)
    loss = LOSSES.get(name)
    assert float(loss.d_loss(zeros, zeros)) == pytest.approx(d_value)
    assert float(loss.g_loss(zeros, zeros)) == pytest.approx(g_value)


def test_hinge_and_wasserstein_on_separated_scores() -> None:
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    assert float(LOSSES.get("hinge").d_loss(real, fake)) == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert float(LOSSES.get("wasserstein").d_loss(real, fake)) == pytest.approx(-1.5 - 1.25)


@pytest.mark.parametrize("shape", [(6, 2), (4, 3, 5, 5)])
@pytest.mark.parametrize("weight_lambda", [1.0, 10.0])
def test_gradient_penalty_matches_linear_critic(shape: tuple[int, ...], weight_lambda: float) -> None:
    torch.manual_seed(0)
    dim = math.prod(shape[1:])
    w = torch.randn(dim) * 0.7  # ||w|| != 1, so the penalty is not zero
    critic = LinearCritic(w)
    real, fake = torch.randn(shape), torch.randn(shape)
    penalty = gradient_penalty(critic, real, fake, weight_lambda, generator=torch.Generator().manual_seed(1))
    expected = weight_lambda * (w.norm() - 1) ** 2
    assert float(penalty.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    # The penalty trains D: its gradient w.r.t. w is lambda * 2 (||w|| - 1) w / ||w||.
    penalty.backward()
    analytic = weight_lambda * 2 * (w.norm() - 1) * w / w.norm()
    torch.testing.assert_close(critic.weight.grad, analytic, rtol=1e-4, atol=1e-6)


def test_gradient_penalty_interpolates_between_real_and_fake() -> None:
    """A critic whose gradient depends on x: the penalty must be evaluated between the two batches."""
    seen: list[torch.Tensor] = []

    def critic(x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        seen.append(x.detach().clone())
        return x.sum(dim=1)

    real, fake = torch.zeros(100, 2), torch.ones(100, 2)
    gradient_penalty(critic, real, fake, 1.0, generator=torch.Generator().manual_seed(0))
    mixed = seen[0]
    assert torch.all((mixed >= 0) & (mixed <= 1))
    assert torch.allclose(mixed[:, 0], mixed[:, 1])  # one mixing factor per sample
    assert 0.3 < float(mixed.mean()) < 0.7 and float(mixed.std()) > 0.2


def test_gradient_penalty_is_float32_under_autocast() -> None:
    w = torch.tensor([3.0, 4.0])
    critic = LinearCritic(w)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        penalty = gradient_penalty(critic, real, fake, 10.0)
    assert penalty.dtype == torch.float32
    assert float(penalty) == pytest.approx(10.0 * 16.0, rel=1e-6)  # ||w|| = 5 exactly in float32


def test_r1_matches_linear_critic() -> None:
    w = torch.tensor([1.0, -2.0, 0.5])
    critic = LinearCritic(w)
    real = torch.randn(7, 3)
    penalty = r1_penalty(critic, real, 4.0)
    assert float(penalty) == pytest.approx(0.5 * 4.0 * float(w.pow(2).sum()), rel=1e-6)
    penalty.backward()
    torch.testing.assert_close(critic.weight.grad, 4.0 * w)


def test_clip_weights_bounds_every_parameter() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.Linear(16, 1))
    for p in net.parameters():
        nn.init.normal_(p, 0, 1)
    clip_weights_(net, 0.01)
    for p in net.parameters():
        assert float(p.abs().max()) <= 0.01
    assert any(float(p.abs().max()) == pytest.approx(0.01) for p in net.parameters())


def test_rpgan_pairs_each_real_with_one_fake() -> None:
    loss = LOSSES.get("rpgan")
    real, fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.0, 1.0, -2.0])
    softplus = torch.nn.functional.softplus
    assert float(loss.d_loss(real, fake)) == pytest.approx(float(softplus(fake - real).mean()))
    assert float(loss.g_loss(real, fake)) == pytest.approx(float(softplus(real - fake).mean()))
    # pairing, not a comparison of batch means: the same scores paired differently give another loss
    assert float(loss.d_loss(real, fake.flip(0))) != pytest.approx(float(loss.d_loss(real, fake)))
    assert float(loss.d_loss(real, fake)) == pytest.approx(float(loss.g_loss(fake, real)))  # the roles swap


def test_only_relativistic_losses_ask_for_real_scores_in_g_step() -> None:
    assert [name for name in LOSSES if LOSSES.get(name).g_needs_real] == ["rpgan"]
    with pytest.raises(ValueError, match="real scores"):
        LOSSES.get("rpgan").g_loss(None, torch.zeros(3))


def test_r2_is_r1_on_the_fakes() -> None:
    w = torch.tensor([1.0, -2.0, 0.5])
    critic = LinearCritic(w)
    fake = torch.randn(5, 3)
    assert float(r2_penalty(critic, fake, 4.0)) == pytest.approx(0.5 * 4.0 * float(w.pow(2).sum()), rel=1e-6)

    def quadratic(x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return 0.5 * x.pow(2).sum(dim=1)  # grad = x: the penalty is 0.5 * weight * E||x||^2 of its input

    real, fake = torch.zeros(4, 2), torch.full((4, 2), 3.0)
    assert float(r1_penalty(quadratic, real, 1.0)) == 0.0
    assert float(r2_penalty(quadratic, fake, 1.0)) == pytest.approx(0.5 * 18.0)


def test_every_regularizer_names_config_keys_and_a_player() -> None:
    from ganforge.config import TrainConfig, field_names

    assert REGULARIZERS.names() == ["gp", "r1", "r2", "clip"]
    kinds = {name: REGULARIZERS.get(name).kind for name in REGULARIZERS}
    assert kinds == {"gp": "penalty", "r1": "penalty", "r2": "penalty", "clip": "after-step"}
    for name in REGULARIZERS:
        entry = REGULARIZERS.get(name)
        assert entry.weight_key in field_names() and entry.player in ("d", "g")
        assert entry.interval_key in (None, *field_names())
        assert getattr(TrainConfig(), entry.weight_key) == 0.0  # off by default
    with pytest.raises(ValueError, match="exactly one"):
        Regularizer("both", "", weight_key="gp", player="d", penalty=lambda x, w: x.real.sum(),
                    after_step=clip_weights_)
    with pytest.raises(ValueError, match="player"):
        Regularizer("nobody", "", weight_key="gp", player="x", after_step=clip_weights_)


@pytest.mark.parametrize("key", ["r2", "gp", "clip"])
def test_regularizer_weights_must_be_non_negative(key: str) -> None:
    from ganforge.config_build import build_config
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match=f"{key} must be a number >= 0"):
        build_config({key: -1.0})
    with pytest.raises(GanforgeError, match="reg-every must be a positive whole number"):
        build_config({"reg_every": 0})
