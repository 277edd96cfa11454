"""Inception Score (Salimans et al. 2016), as torch-fidelity computes it.

Class probabilities are the softmax of the FID Inception's *unbiased* 1008-way logits (``pool3 @ W^T``,
no bias). The samples are shuffled with ``np.random.RandomState(2020)`` (class-sorted inputs would bias
every split), cut into ``splits`` (10) contiguous chunks ``[i N // splits, (i + 1) N // splits)``, and
each chunk scores ``exp(mean_x KL(p(y|x) || p(y)))`` with ``p(y)`` that chunk's mean prediction. Report
mean and std (ddof 0) over chunks. Published numbers use 50k samples; CIFAR-10 train images score
11.24 (paper) / 11.237 (torch-fidelity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

IS_SPLITS = 10
IS_SEED = 2020  # torch-fidelity's default rng_seed


@dataclass(frozen=True)
class ISResult:
    mean: float
    std: float
    splits: int


def inception_score(logits: np.ndarray | torch.Tensor, *, splits: int = IS_SPLITS, shuffle: bool = True,
                    seed: int = IS_SEED) -> ISResult:
    """Inception Score of ``(N, K)`` logits, computed in float64."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    if z.ndim != 2 or len(z) < splits:
        raise ValueError(f"need (N >= splits={splits}, K) logits, got shape {tuple(z.shape)}")
    n = len(z)
    if shuffle:
        z = z[torch.from_numpy(np.random.RandomState(seed).permutation(n))]
    scores = []
    for i in range(splits):
        chunk = z[i * n // splits:(i + 1) * n // splits]
        log_p = torch.log_softmax(chunk, dim=1)
        # log of the chunk's marginal p(y) = mean_x p(y|x), computed stably in log space
        log_marginal = torch.logsumexp(log_p, dim=0) - np.log(len(chunk))
        kl = (log_p.exp() * (log_p - log_marginal)).sum(dim=1)
        scores.append(float(kl.mean().exp()))
    values = np.array(scores)
    return ISResult(float(values.mean()), float(values.std()), splits)
