"""Kernel Inception Distance (Bińkowski et al. 2018), as torch-fidelity and NVIDIA compute it.

Cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``; unbiased MMD^2 estimate
``[sum_{i!=j} Kxx + sum_{i!=j} Kyy] / (m (m - 1)) - 2 sum Kxy / m^2`` on ``num_subsets`` (100) subsets of
``subset_size`` (1000) samples drawn without replacement from each set; report mean and std (ddof 0)
over subsets. Computed in float64.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_SEED = 2020  # torch-fidelity's default rng_seed
# Precompute full Gram matrices when that is cheaper than per-subset kernels and fits in ~1 GB.
_FULL_GRAM_MAX_ENTRIES = 128 * 1024 * 1024


@dataclass(frozen=True)
class KIDResult:
    mean: float
    std: float
    subset_size: int
    num_subsets: int


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(x y^T / d + 1)^3`` for ``(n, d)`` and ``(m, d)`` float64 tensors."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(kxx: torch.Tensor, kyy: torch.Tensor, kxy: torch.Tensor) -> float:
    """Unbiased MMD^2 from the three kernel matrices of two equally sized samples (diagonals excluded)."""
    m = kxx.shape[0]
    sum_xx = kxx.sum() - kxx.diagonal().sum()
    sum_yy = kyy.sum() - kyy.diagonal().sum()
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * kxy.sum() / (m * m))


def kernel_inception_distance(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, *,
                              num_subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
                              seed: int = KID_SEED, strict: bool = False) -> KIDResult:
    """KID between ``(N, d)`` real and ``(M, d)`` fake features: mean and std over random subsets.

    When either set is smaller than ``subset_size`` the subset shrinks to ``min(N, M)`` with a warning
    giving the numbers (NVIDIA's behaviour); with ``strict=True`` it raises instead (torch-fidelity's).
    Subsets come from ``np.random.RandomState(seed)`` as in torch-fidelity: the same inputs and seed give the same value.
    """
    x = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need (N, d) and (M, d) features, got {tuple(x.shape)} and {tuple(y.shape)}")
    n, m = len(x), len(y)
    size = min(subset_size, n, m)
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {n} real and {m} fake")
    if size < subset_size:
        message = (f"KID subset size {subset_size} is larger than the samples available ({n} real, {m} fake); "
                   f"using subsets of {size}, so the value is not comparable with published KID")
        if strict:
            raise ValueError(message)
        warnings.warn(message, stacklevel=2)

    # Same generator and draw order as torch-fidelity, so equal features and seed give its exact subsets.
    rng = np.random.RandomState(seed)
    subsets = [(rng.choice(n, size, replace=False), rng.choice(m, size, replace=False))
               for _ in range(num_subsets)]
    full_cost = n * n + m * m + n * m
    if full_cost <= 3 * num_subsets * size * size and full_cost <= _FULL_GRAM_MAX_ENTRIES:
        kxx_all, kyy_all, kxy_all = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)

        def kernels(ix: np.ndarray, iy: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            tx, ty = torch.from_numpy(ix), torch.from_numpy(iy)
            return (kxx_all[tx][:, tx], kyy_all[ty][:, ty], kxy_all[tx][:, ty])
    else:
        def kernels(ix: np.ndarray, iy: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            sx, sy = x[torch.from_numpy(ix)], y[torch.from_numpy(iy)]
            return polynomial_kernel(sx, sx), polynomial_kernel(sy, sy), polynomial_kernel(sx, sy)

    values = np.array([mmd2_unbiased(*kernels(ix, iy)) for ix, iy in subsets])
    return KIDResult(float(values.mean()), float(values.std()), size, num_subsets)
