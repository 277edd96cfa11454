"""Exponential moving average of the generator's weights (Karras et al. 2018; StyleGAN2-ADA).

The decay is given either as a half-life in images, as StyleGAN2-ADA does (``--ema-kimg``): after
``ema_kimg * 1000`` training images the old average has weight 1/2, whatever the batch size; or directly
as the per-step decay most GAN code uses (``--ema 0.999``), which ties the averaging window to the batch
size.

Ramp-up (``--ema-rampup``, StyleGAN2-ADA's ``ema_rampup``): the half-life is at most ``rampup`` times the
images seen so far, so early in a run the average follows G closely instead of holding on to its random
initial weights (with ``--ema 0.999`` and no ramp-up those still weigh 0.999^1500 = 0.22 after 1,500
steps). The decay is a pure function of the step, so a resumed run continues the same schedule.

BatchNorm statistics (``--ema-bn``): the running mean and variance G collects while training describe
G's live weights, not the averaged ones, and an EMA copy normalising with them draws noise. ``standing``
recomputes them for the averaged weights (BigGAN's "standing statistics"): forward passes of the EMA copy
in which each BatchNorm normalises with its batch's statistics and averages them cumulatively (momentum
None), over a fixed seeded set of latents drawn from a generator of its own (never the training streams),
before the copy is sampled, saved, evaluated or checkpointed. ``averaged`` keeps an EMA of the running statistics alongside the weights;
``live`` copies the training G's statistics (what every EMA run did before ``--ema-bn`` existed).
Other buffers (spectral norm's power-iteration vectors) are always copied from G.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ganforge.config import EMA_BN_MODES
from ganforge.training.distributed import GlobalBatchNorm

BATCH_NORMS = (_BatchNorm, GlobalBatchNorm)  # what keeps running statistics (GlobalBatchNorm: --sync-bn)
STANDING_BATCHES = 16  # BigGAN-PyTorch's num_standing_accumulations
STANDING_SEED_OFFSET = 4  # the standing latents' seed is config.seed + 4 (+1..+3 are the training streams)

LatentBatch = tuple[torch.Tensor, torch.Tensor | None]  # (z, labels or None)


def ema_beta(batch_size: int, ema_kimg: float) -> float:
    """Per-step decay: ``0.5 ** (batch_size / (ema_kimg * 1000))`` (StyleGAN2-ADA's ``ema_beta``)."""
    if ema_kimg <= 0:
        raise ValueError(f"ema_kimg must be positive, got {ema_kimg}")
    return 0.5 ** (batch_size / (ema_kimg * 1000.0))


def run_ema_beta(batch_size: int, ema_kimg: float, ema: float) -> float:
    """The run's per-step decay from whichever of ``--ema-kimg`` / ``--ema`` is set; 0.0 when EMA is off."""
    if ema_kimg:
        return ema_beta(batch_size, ema_kimg)
    return ema


def half_life_images(batch_size: int, beta: float) -> float:
    """The half-life in images of the per-step decay ``beta`` at ``batch_size`` (inverse of :func:`ema_beta`)."""
    if beta <= 0.0:
        return 0.0
    return batch_size * math.log(0.5) / math.log(beta)


def ramped_beta(beta: float, batch_size: int, images_seen: int, rampup: float) -> float:
    """The decay of the update made after ``images_seen`` training images, ramp-up applied.

    StyleGAN2-ADA: ``ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)``, ``beta = 0.5 ** (batch /
    ema_nimg)``; the first update (no image seen) copies G. ``rampup`` 0 leaves ``beta`` as it is.
    """
    if not rampup or beta <= 0.0:
        return beta
    half_life = min(half_life_images(batch_size, beta), images_seen * rampup)
    return 0.5 ** (batch_size / max(half_life, 1e-8))


def make_ema(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` that starts equal to it."""
    ema = copy.deepcopy(model)
    ema.requires_grad_(False)
    return ema


def batch_norm_buffer_names(model: nn.Module) -> frozenset[str]:
    """The names (as ``named_buffers`` gives them) of every BatchNorm running statistic in ``model``."""
    return frozenset(f"{prefix}.{name}" if prefix else name
                     for prefix, module in model.named_modules() if isinstance(module, BATCH_NORMS)
                     for name, _ in module.named_buffers(recurse=False))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float, bn: str = "live") -> None:
    """``ema <- beta * ema + (1 - beta) * model`` for parameters; buffers as ``bn`` says.

    BatchNorm running statistics: ``live`` copies G's, ``averaged`` averages them like the weights
    (the batch counter is copied), ``standing`` leaves them to :func:`standing_statistics`. Every other
    buffer (spectral norm's vectors) describes G's current weights and is copied.
    """
    if bn not in EMA_BN_MODES:
        raise ValueError(f"bn must be one of {EMA_BN_MODES}, got {bn!r}")
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1.0 - beta)
    norm_buffers = batch_norm_buffer_names(ema) if bn != "live" else frozenset()
    for (name, b_ema), b in zip(ema.named_buffers(), model.buffers(), strict=True):
        if name not in norm_buffers:
            b_ema.copy_(b)
        elif bn == "averaged":
            if b_ema.is_floating_point():
                b_ema.lerp_(b, 1.0 - beta)
            else:
                b_ema.copy_(b)


def _standing_forward(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm on this batch's statistics, folded into a cumulative average of the running ones.

    Stands in for every kind's forward, synchronized ones included: only rank 0 samples in a
    multi-process run, so an all-reduce there would wait forever for the other ranks.
    """
    mean, var, count = _running_statistics(norm)
    count.add_(1)
    weight, bias = cast(torch.Tensor | None, norm.weight), cast(torch.Tensor | None, norm.bias)
    return F.batch_norm(x, mean, var, weight, bias, True, 1.0 / float(count), float(cast(float, norm.eps)))


def _running_statistics(norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(running_mean, running_var, num_batches_tracked) of a BatchNorm that tracks them."""
    return (cast(torch.Tensor, norm.running_mean), cast(torch.Tensor, norm.running_var),
            cast(torch.Tensor, norm.num_batches_tracked))


@contextmanager
def _batch_norms_estimating(model: nn.Module) -> Iterator[list[nn.Module]]:
    """``model`` in eval mode, its BatchNorms' statistics reset and re-estimated by each forward."""
    norms: list[nn.Module] = [module for module in model.modules()
                              if isinstance(module, BATCH_NORMS) and module.running_mean is not None]
    was_training = model.training
    model.eval()
    for norm in norms:
        mean, var, count = _running_statistics(norm)
        mean.zero_()
        var.fill_(1.0)
        count.zero_()
        norm.forward = partial(_standing_forward, norm)
    try:
        yield norms
    finally:
        for norm in norms:
            del norm.forward
        model.train(was_training)


@torch.no_grad()
def standing_statistics(model: nn.Module, batches: Iterable[LatentBatch]) -> None:
    """Recompute every BatchNorm's running statistics of ``model`` from its own outputs on ``batches``.

    The statistics become the average over the batches of each batch's mean and (unbiased) variance,
    the population statistics of the weights as they are now. A model without BatchNorm is untouched.
    """
    if not any(isinstance(module, BATCH_NORMS) for module in model.modules()):
        return
    with _batch_norms_estimating(model):
        for z, labels in batches:
            model(z, labels)


def standing_latents(z_dim: int, batch_size: int, seed: int, device: torch.device,
                     labels: torch.Tensor | None = None,
                     num_batches: int = STANDING_BATCHES) -> list[LatentBatch]:
    """The fixed latents of the standing-statistics pass, from a generator of their own seeded by ``seed``.

    Conditional runs pass the training labels: each latent gets the label of a uniformly drawn training
    sample, so the classes come in the data's proportions, as they do in training batches.
    """
    rng = torch.Generator().manual_seed(seed)
    out: list[LatentBatch] = []
    for _ in range(num_batches):
        z = torch.randn(batch_size, z_dim, generator=rng)
        batch_labels = (labels[torch.randint(len(labels), (batch_size,), generator=rng)]
                        if labels is not None else None)
        out.append((z.to(device), batch_labels.to(device) if batch_labels is not None else None))
    return out
