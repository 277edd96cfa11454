"""Mode-collapse metrics for the 2-D Gaussian mixtures, exactly as the PacGAN protocol defines them.

Lin et al. 2018 (PacGAN), Table 1: draw 2,500 samples; a sample is high quality (HQ) when it lies within
3 standard deviations of its nearest mode center; a mode is captured when it is the nearest center of
at least one HQ sample; reverse KL is KL(p_gen || uniform) where p_gen is the histogram of HQ samples
over their nearest modes. All functions are pure and work on CPU tensors; :func:`toy2d_metric` is what
the metric registry (``toy2d``, :mod:`ganforge.metrics.specs`) computes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from ganforge.data import split_spec, toy2d_modes
from ganforge.models.base import latent_size

PROTOCOL_NAME = "pacgan-2d"
PROTOCOL_SAMPLES = 2500
PROTOCOL_NUM_STD = 3.0


@dataclass(frozen=True)
class Toy2dScores:
    modes: int  # modes captured
    num_modes: int
    high_quality: float  # fraction of samples that are HQ, in [0, 1]
    reverse_kl: float  # nats; NaN when no sample is HQ (p_gen is then undefined)
    samples: int

    def to_dict(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = asdict(self)
        if math.isnan(self.reverse_kl):
            out["reverse_kl"] = None  # JSON has no NaN
        return out


def nearest_modes(samples: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of each sample's nearest center and the Euclidean distance to it."""
    distances = torch.cdist(samples.double(), centers.double())
    distance, index = distances.min(dim=1)
    return index, distance


def high_quality(distance: torch.Tensor, std: float, num_std: float = PROTOCOL_NUM_STD) -> torch.Tensor:
    """Boolean mask of HQ samples: within ``num_std`` standard deviations of their nearest center."""
    return distance <= num_std * std


def mode_histogram(nearest: torch.Tensor, hq: torch.Tensor, num_modes: int) -> torch.Tensor:
    """Counts of HQ samples per mode (int64, length ``num_modes``; zero for modes never hit)."""
    return torch.bincount(nearest[hq], minlength=num_modes)


def reverse_kl(counts: torch.Tensor) -> float:
    """KL(p || uniform) over modes for the histogram ``counts``, in nats.

    Modes with zero count contribute 0 (the limit of p log p), so a generator stuck on one of K modes
    scores log K, and a perfectly even one scores 0. With no counts at all p is undefined: NaN.
    """
    total = int(counts.sum())
    if total == 0:
        return float("nan")
    p = counts.double() / total
    nonzero = p[p > 0]
    return float((nonzero * torch.log(nonzero * len(counts))).sum())


def toy2d_scores(samples: torch.Tensor, centers: torch.Tensor, std: float,
                 num_std: float = PROTOCOL_NUM_STD) -> Toy2dScores:
    """All PacGAN metrics for ``samples`` (N, 2) against the mixture's ``centers`` (K, 2) and ``std``."""
    if samples.dim() != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(f"samples must be (N, {centers.shape[1]}), got {tuple(samples.shape)}")
    nearest, distance = nearest_modes(samples, centers)
    hq = high_quality(distance, std, num_std)
    counts = mode_histogram(nearest, hq, len(centers))
    return Toy2dScores(
        modes=int((counts > 0).sum()),
        num_modes=len(centers),
        high_quality=float(hq.double().mean()) if len(samples) else 0.0,
        reverse_kl=reverse_kl(counts),
        samples=len(samples),
    )


@torch.no_grad()
def sample_points(generator: torch.nn.Module, num: int, *, seed: int = 0, num_classes: int = 0,
                  device: torch.device | str = "cpu", chunk: int = 10_000) -> torch.Tensor:
    """``num`` points from a 2-D generator with seeded latents; conditional ones get classes round-robin.

    The generator samples in eval mode (BatchNorm with running statistics, as the saved generator does)
    and is left in the mode it came in."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(num, latent_size(generator), generator=rng)
    labels = torch.arange(num) % num_classes if num_classes else None
    out = []
    was_training = generator.training
    generator.eval()
    try:
        for start in range(0, num, chunk):
            zs = z[start:start + chunk].to(device)
            ls = labels[start:start + chunk].to(device) if labels is not None else None
            out.append(generator(zs, ls).float().cpu())
    finally:
        generator.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 2)


def toy2d_metric(reference: str, points: torch.Tensor, options: object) -> tuple[dict[str, float | int | None],
                                                                               dict[str, object]]:
    """The PacGAN metrics of generated ``points`` against the mixture ``reference`` ("toy2d:ring")."""
    _, variant = split_spec(reference)
    centers, std = toy2d_modes(variant or "")
    scores = toy2d_scores(points, centers, std).to_dict()
    del scores["samples"]  # the protocol's num_fake
    return scores, {}
