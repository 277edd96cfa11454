"""The EMA copy of a BatchNorm generator draws samples no worse than the generator it averages.

A tiny DCGAN (BatchNorm in G) learns white 8x8 squares on black 32x32 images. Samples are scored by the
Fréchet distance of 4x4-pooled pixels (64-d) to 2,000 fresh real images: no feature network, so the
score is the test's own. Alongside the run's EMA (ramp-up, standing statistics) the test keeps the EMA
as ganforge had it before (live BatchNorm statistics, no ramp-up, the same decay), to show the score
does tell a bad average from a good one: that copy scores far worse than G.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config_build import build_config
from ganforge.data import TensorDataset, to_model_range
from ganforge.metrics.frechet import GaussianStats, feature_statistics, fid_from_stats
from ganforge.training.ema import make_ema, update_ema
from ganforge.training.update import Trainer


def squares(num: int, seed: int) -> TensorDataset:
    rng = torch.Generator().manual_seed(seed)
    corners = torch.randint(0, 24, (num, 2), generator=rng)
    images = torch.zeros(num, 1, 32, 32, dtype=torch.uint8)
    for image, (y, x) in zip(images, corners.tolist(), strict=True):
        image[:, y:y + 8, x:x + 8] = 255
    return TensorDataset(images, torch.zeros(num, dtype=torch.long), num_classes=0, name="squares")


def pooled(images: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(images.float(), 4).flatten(1).double()


@torch.no_grad()
def distance(generator: nn.Module, real: GaussianStats) -> float:
    generator.eval()
    z = torch.randn(2000, generator.z_dim, generator=torch.Generator().manual_seed(5))
    return fid_from_stats(real, feature_statistics(pooled(generator(z)).numpy(), warn=False))


@pytest.mark.slow
def test_ema_of_a_batch_norm_generator_is_no_worse_than_the_generator() -> None:
    real = feature_statistics(pooled(to_model_range(squares(2000, seed=1).data)).numpy(), warn=False)
    config = build_config({"model": "dcgan", "width": 8, "batch_size": 32, "z_dim": 16, "steps": 400,
                           "device": "cpu", "ema": 0.999, "seed": 0})
    assert (config.ema_rampup, config.ema_bn) == (0.05, "standing")  # the defaults under test
    trainer = Trainer(config, squares(512, seed=0), torch.device("cpu"))
    before = make_ema(trainer.generator)  # updated exactly as the EMA was before ramp-up and --ema-bn
    for _ in range(config.steps):
        trainer.train_step()
        update_ema(before, trainer.generator, trainer.ema_beta, bn="live")
    raw = distance(trainer.generator, real)
    ema = distance(trainer.sampling_generator, real)
    old = distance(before, real)
    assert ema <= 1.2 * raw, (ema, raw)
    assert old >= 1.4 * raw, (old, raw)  # the score separates: the former EMA fails the line above
