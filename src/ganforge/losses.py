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


LOSSES: Registry[GanLoss] = Registry("loss")
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
