"""GAN losses as pure functions of discriminator scores, looked up by name.

Every discriminator returns raw scores (logits). A loss turns real/fake scores into the D and G
objectives, and says how to report D's output (a probability for the logistic losses, the raw score
for the others) so the progress bar's D(x) and D(G(z)) mean something for each loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganforge.registry import Registry

Scores = torch.Tensor


@dataclass(frozen=True)
class GanLoss:
    name: str
    description: str
    d_loss: Callable[[Scores, Scores], torch.Tensor]
    g_loss: Callable[[Scores], torch.Tensor]
    d_output: Callable[[Scores], torch.Tensor] = torch.sigmoid


def _bce_d(real: Scores, fake: Scores) -> torch.Tensor:
    # softplus(-s) = -log sigmoid(s): the numerically stable form of BCE on logits.
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _identity(scores: Scores) -> Scores:
    return scores


LOSSES: Registry[GanLoss] = Registry("loss", plugin_group="ganforge.losses")
LOSSES.register("bce", GanLoss(
    "bce", "non-saturating logistic loss (Goodfellow et al. 2014, the DCGAN default)",
    d_loss=_bce_d,
    g_loss=lambda fake: F.softplus(-fake).mean(),
))
LOSSES.register("minimax", GanLoss(
    "minimax", "the original saturating minimax loss: G minimises log(1 - D(G(z)))",
    d_loss=_bce_d,
    g_loss=lambda fake: -F.softplus(fake).mean(),
))
LOSSES.register("lsgan", GanLoss(
    "lsgan", "least squares / MSE (Mao et al. 2017): real -> 1, fake -> 0",
    d_loss=lambda real, fake: 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean()),
    g_loss=lambda fake: 0.5 * (fake - 1).pow(2).mean(),
    d_output=_identity,
))
LOSSES.register("hinge", GanLoss(
    "hinge", "hinge loss (Lim & Ye 2017; SNGAN, SAGAN, BigGAN)",
    d_loss=lambda real, fake: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
    g_loss=lambda fake: -fake.mean(),
    d_output=_identity,
))
LOSSES.register("wasserstein", GanLoss(
    "wasserstein", "Wasserstein critic loss (Arjovsky et al. 2017); pair with --clip or --gp",
    d_loss=lambda real, fake: fake.mean() - real.mean(),
    g_loss=lambda fake: -fake.mean(),
    d_output=_identity,
))


# -- regularizers ---------------------------------------------------------------------------------
# Pure functions of (D, real, fake). `discriminator` is any callable taking (x, labels) -> (N,) scores,
# so the loop can pass D wrapped with packing. Penalties return the weighted term to add to D's loss.

Critic = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def _float32_grad(discriminator: Critic, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """d(sum of scores)/dx per sample, flattened, computed in float32 with autocast off.

    Half precision underflows the small input gradients these penalties square, so the penalty path
    always runs in float32 even when the rest of the step is autocast.
    """
    x = x.detach().float().requires_grad_(True)
    with torch.autocast(device_type=x.device.type, enabled=False):
        scores = discriminator(x, labels).float()
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad.reshape(len(grad), -1)


def gradient_penalty(discriminator: Critic, real: torch.Tensor, fake: torch.Tensor, weight: float,
                     labels: torch.Tensor | None = None, *, generator: torch.Generator | None = None,
                     share: tuple[int, int] = (0, 1)) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): ``weight * E[(||grad D(x_hat)|| - 1)^2]``.

    ``x_hat`` is a uniform random interpolate between each real and fake sample (one mixing factor per
    sample, drawn from ``generator`` so a resumed run draws the same ones). ``share=(index, count)``:
    ``real`` is slice ``index`` of ``count`` equal slices of a global batch (multi-process training); the
    factors are drawn for the global batch and sliced, so every process draws what one process would.
    """
    index, count = share
    shape = (len(real) * count,) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, generator=generator, device=real.device, dtype=torch.float32)
    alpha = alpha[index * len(real):(index + 1) * len(real)]
    mixed = alpha * real.detach().float() + (1 - alpha) * fake.detach().float()
    grad = _float32_grad(discriminator, mixed, labels)
    return weight * (grad.norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(discriminator: Critic, real: torch.Tensor, weight: float,
               labels: torch.Tensor | None = None) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): ``weight / 2 * E[||grad D(x_real)||^2]`` on real data only."""
    grad = _float32_grad(discriminator, real, labels)
    return 0.5 * weight * grad.pow(2).sum(dim=1).mean()


@torch.no_grad()
def clip_weights_(discriminator: torch.nn.Module, limit: float) -> None:
    """WGAN weight clipping: clamp every parameter of D to [-limit, limit], in place."""
    for parameter in discriminator.parameters():
        parameter.clamp_(-limit, limit)
