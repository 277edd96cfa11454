"""Precision / recall (Kynkäänniemi et al. 2019) and density / coverage (Naeem et al. 2020) on features.

Definitions (x = real, N of them; y = fake, M of them; r_k(p) = distance from p to its k-th nearest
neighbour in its own set, the point itself excluded):

- precision = share of fake y with ``d(y, x_i) <= r_3(x_i)`` for some real x_i; recall = share of real x
  with ``d(x, y_j) <= r_3(y_j)`` for some fake y_j (k = 3, ``<=``, as NVIDIA's StyleGAN code);
- density = ``1/(kM) sum_j sum_i 1[d(x_i, y_j) < r_5(x_i)]``; coverage = ``1/N sum_i 1[min_j d(x_i, y_j) <
  r_5(x_i)]`` (k = 5, strict ``<``, as the PRDC reference code).

The papers use VGG16 fc2 features; ganforge uses the Inception pool3 features it already extracts (as
StudioGAN does), so values are comparable only with other pool3-based numbers. Distances are Euclidean,
computed in float64 block by block so no more than ``max_block_bytes`` of distances exist at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

PR_K = 3
DC_K = 5
FEATURE_NOTE = "Inception pool3 features (the papers use VGG16 fc2)"
_DEFAULT_BLOCK_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class PRResult:
    precision: float
    recall: float
    k: int


@dataclass(frozen=True)
class DCResult:
    density: float
    coverage: float
    k: int


def _as_float64(features: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    if x.ndim != 2:
        raise ValueError(f"need an (N, d) feature matrix, got shape {tuple(x.shape)}")
    return x


def squared_distance_blocks(a: torch.Tensor, b: torch.Tensor,
                            max_block_bytes: int = _DEFAULT_BLOCK_BYTES) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(row_start, D)`` with ``D[i, j] = |a[row_start + i] - b[j]|^2`` for row blocks of ``a``.

    Squared distances order exactly like distances, so radii comparisons skip the square root.
    """
    rows = max(1, max_block_bytes // (8 * max(1, len(b))))
    b_norms = (b * b).sum(dim=1)
    for start in range(0, len(a), rows):
        block = a[start:start + rows]
        d2 = (block * block).sum(dim=1, keepdim=True) + b_norms[None, :] - 2.0 * (block @ b.T)
        yield start, d2.clamp_(min=0.0)


def knn_radii_squared(x: torch.Tensor, k: int, max_block_bytes: int = _DEFAULT_BLOCK_BYTES) -> torch.Tensor:
    """Squared distance from each row of ``x`` to its k-th nearest other row."""
    if len(x) <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} samples, got {len(x)}")
    radii = torch.empty(len(x), dtype=torch.float64)
    for start, d2 in squared_distance_blocks(x, x, max_block_bytes):
        # Rounding can leave the self distance slightly above 0; force it so it is always the 1st neighbour.
        idx = torch.arange(len(d2))
        d2[idx, start + idx] = 0.0
        radii[start:start + len(d2)] = d2.kthvalue(k + 1, dim=1).values
    return radii


def _share_within(points: torch.Tensor, centres: torch.Tensor, radii2: torch.Tensor,
                  max_block_bytes: int) -> float:
    """Share of ``points`` inside (<=) at least one ball (centre, radius)."""
    inside = 0
    for _, d2 in squared_distance_blocks(points, centres, max_block_bytes):
        inside += int((d2 <= radii2[None, :]).any(dim=1).sum())
    return inside / len(points)


def precision_recall(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, *, k: int = PR_K,
                     max_block_bytes: int = _DEFAULT_BLOCK_BYTES) -> PRResult:
    """Improved precision and recall (k-NN balls, ``<=``) of fake features against real features."""
    x, y = _as_float64(real), _as_float64(fake)
    real_r2 = knn_radii_squared(x, k, max_block_bytes)
    fake_r2 = knn_radii_squared(y, k, max_block_bytes)
    return PRResult(_share_within(y, x, real_r2, max_block_bytes),
                    _share_within(x, y, fake_r2, max_block_bytes), k)


def density_coverage(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, *, k: int = DC_K,
                     max_block_bytes: int = _DEFAULT_BLOCK_BYTES) -> DCResult:
    """Density and coverage (real k-NN balls, strict ``<``) of fake features against real features."""
    x, y = _as_float64(real), _as_float64(fake)
    real_r2 = knn_radii_squared(x, k, max_block_bytes)
    count = 0
    for _, d2 in squared_distance_blocks(y, x, max_block_bytes):
        count += int((d2 < real_r2[None, :]).sum())
    covered = 0
    for start, d2 in squared_distance_blocks(x, y, max_block_bytes):
        covered += int((d2.min(dim=1).values < real_r2[start:start + len(d2)]).sum())
    return DCResult(count / (k * len(y)), covered / len(x), k)
