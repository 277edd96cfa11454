"""Training steps of one's own, written as a user writes them (``ganforge.training.step``), and the tiny
8x8 networks they train. Importable by name (``user_steps:hinge_step``) with this folder on the path, as
``--train-step`` imports a step. Not a test module.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.losses import LOSSES
from ganforge.training.step import StepContext


class TinyG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.z_dim, self.num_classes = 4, 0
        self.net = nn.Linear(4, 64)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.net(z)).view(-1, 1, 8, 8)


class TinyD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(64, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


def d_update(ctx: StepContext, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """One hinge-loss D step on ``real`` blurred by instance noise from the step's own stream."""
    noisy = real + 0.05 * torch.randn(real.shape, generator=ctx.rng, device=ctx.device)
    loss_d = F.relu(1 - ctx.discriminator(noisy, ctx.cond)).mean() + \
        F.relu(1 + ctx.discriminator(fake.detach(), ctx.cond)).mean()
    ctx.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    ctx.opt_d.step()
    return loss_d.detach()


def g_update(ctx: StepContext, fake: torch.Tensor) -> torch.Tensor:
    loss_g = -ctx.discriminator(fake, ctx.cond).mean()
    ctx.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    ctx.opt_g.step()
    return loss_g.detach()


def hinge_step(ctx: StepContext) -> dict[str, Any]:
    """Two D updates (the second on a batch from ``ctx.next_batch``), then one G update."""
    fake = ctx.generator(ctx.noise(), ctx.cond)
    first = d_update(ctx, ctx.real, fake)
    second_real, _ = ctx.next_batch()
    second = d_update(ctx, second_real, fake)
    return {"hinge_d": (first + second) / 2, "hinge_g": g_update(ctx, fake), "noise_std": 0.05}


class EveryOtherG:
    """Updates G on every other call: its call count is state that the checkpoint must keep."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, ctx: StepContext) -> dict[str, Any]:
        self.calls += 1
        fake = ctx.generator(ctx.noise(), ctx.cond)
        values: dict[str, Any] = {"hinge_d": d_update(ctx, ctx.real, fake)}
        if self.calls % 2 == 0:
            values["hinge_g"] = g_update(ctx, fake)
        return values

    def state_dict(self) -> dict[str, int]:
        return {"calls": self.calls}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.calls = int(state["calls"])


def bce_step(ctx: StepContext) -> dict[str, Any]:
    """ganforge's default update (one D step, then G, the non-saturating loss) written as a user would,
    with the registered loss's formulas: it draws what ganforge's update draws, in the same order."""
    loss = LOSSES.get("bce")
    fake = ctx.generator(ctx.noise(), ctx.cond)
    loss_d = loss.d_loss(ctx.discriminator(ctx.real, ctx.cond), ctx.discriminator(fake.detach(), ctx.cond))
    ctx.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    ctx.opt_d.step()
    loss_g = loss.g_loss(None, ctx.discriminator(fake, ctx.cond))
    ctx.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    ctx.opt_g.step()
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}
