"""Exponential moving average of the generator's weights (Karras et al. 2018; StyleGAN2-ADA).

The decay is given either as a half-life in images, as StyleGAN2-ADA does (``--ema-kimg``): after
``ema_kimg * 1000`` training images the old average has weight 1/2, whatever the batch size; or directly
as the per-step decay most GAN code uses (``--ema 0.999``), which ties the averaging window to the batch
size.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


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


def make_ema(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` that starts equal to it."""
    ema = copy.deepcopy(model)
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """``ema <- beta * ema + (1 - beta) * model`` for parameters; buffers are copied, not averaged.

    BatchNorm running statistics (and spectral norm's power-iteration vectors) describe the current
    weights; averaging them would describe no network at all, so the EMA takes the live ones.
    """
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)
