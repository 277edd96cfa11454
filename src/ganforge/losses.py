"""GAN losses as pure functions of discriminator scores, looked up by name.

Every discriminator returns raw scores (logits). A loss turns real/fake scores into the D and G
objectives, and says how to report D's output (a probability for the logistic losses, the raw score
for the others) so the progress bar's D(x) and D(G(z)) mean something for each loss.

G's loss is ``g_loss(real_scores, fake_scores)``. Most losses judge the fakes alone: their entries leave
``g_needs_real`` off, G's update then scores no real batch and ``real_scores`` is None. Relativistic
losses (``rpgan``) compare each fake with a real sample, so their entries set it and G's update scores
the real batch with the current D too.

Adding a loss: a ``GanLoss`` entry registered here, or by a package in the ``ganforge.losses`` entry-point
group; ``--loss NAME`` and sweeps find it in ``LOSSES``. A loss with parameters declares them in
``options`` (:class:`ganforge.options.OptionSpec`); its ``d_loss``/``g_loss`` then take them as keyword
arguments, set from ``--loss-opt KEY=VALUE`` (the config's ``loss_options``) by :meth:`GanLoss.bind`.
Regularizers (gradient penalties, weight clipping) live in ``ganforge.regularizers``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.options import OptionSpec, resolve_options
from ganforge.registry import Registry

Scores = torch.Tensor


@dataclass(frozen=True)
class GanLoss:
    name: str
    description: str
    d_loss: Callable[..., torch.Tensor]  # (real_scores, fake_scores, **options)
    g_loss: Callable[..., torch.Tensor]  # (real_scores or None, fake_scores, **options)
    d_output: Callable[[Scores], torch.Tensor] = torch.sigmoid
    g_needs_real: bool = False  # G's loss reads D's scores of the real batch (relativistic losses)
    options: tuple[OptionSpec, ...] = ()

    def bind(self, given: Mapping[str, Any]) -> GanLoss:
        """This loss with its declared options set: each default, overridden by ``given`` (checked and
        converted). A loss without options is returned as it is."""
        if not self.options:
            resolve_options(f"loss {self.name}", self.options, given)  # refuses any key
            return self
        values = {spec.name: spec.default for spec in self.options}
        values.update(resolve_options(f"loss {self.name}", self.options, given))
        return replace(self, d_loss=partial(self.d_loss, **values), g_loss=partial(self.g_loss, **values))


def _bce_d(real: Scores, fake: Scores) -> torch.Tensor:
    # softplus(-s) = -log sigmoid(s): the numerically stable form of BCE on logits.
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _identity(scores: Scores) -> Scores:
    return scores


def _rpgan_g(real: Scores | None, fake: Scores) -> torch.Tensor:
    if real is None:
        raise ValueError("the rpgan G loss compares each fake with a real sample: pass the real scores")
    return F.softplus(real - fake).mean()


LOSSES: Registry[GanLoss] = Registry("loss", plugin_group="ganforge.losses")
LOSSES.register("bce", GanLoss(
    "bce", "non-saturating logistic loss (Goodfellow et al. 2014, the DCGAN default)",
    d_loss=_bce_d,
    g_loss=lambda real, fake: F.softplus(-fake).mean(),
))
LOSSES.register("minimax", GanLoss(
    "minimax", "the original saturating minimax loss: G minimises log(1 - D(G(z)))",
    d_loss=_bce_d,
    g_loss=lambda real, fake: -F.softplus(fake).mean(),
))
LOSSES.register("lsgan", GanLoss(
    "lsgan", "least squares / MSE (Mao et al. 2017): real -> 1, fake -> 0",
    d_loss=lambda real, fake: 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean()),
    g_loss=lambda real, fake: 0.5 * (fake - 1).pow(2).mean(),
    d_output=_identity,
))
LOSSES.register("hinge", GanLoss(
    "hinge", "hinge loss (Lim & Ye 2017; SNGAN, SAGAN, BigGAN)",
    d_loss=lambda real, fake: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
    g_loss=lambda real, fake: -fake.mean(),
    d_output=_identity,
))
LOSSES.register("wasserstein", GanLoss(
    "wasserstein", "Wasserstein critic loss (Arjovsky et al. 2017); pair with --clip or --gp",
    d_loss=lambda real, fake: fake.mean() - real.mean(),
    g_loss=lambda real, fake: -fake.mean(),
    d_output=_identity,
))
# Sample i of the real batch is paired with sample i of the fake batch (both are random draws).
LOSSES.register("rpgan", GanLoss(
    "rpgan", "relativistic pairing loss (R3GAN, Huang et al. 2024): softplus(D(fake) - D(real)) per pair; "
             "pair with --r1 and --r2",
    d_loss=lambda real, fake: F.softplus(fake - real).mean(),
    g_loss=_rpgan_g,
    d_output=_identity,
    g_needs_real=True,
))
