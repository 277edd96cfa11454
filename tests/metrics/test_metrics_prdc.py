"""Precision / recall and density / coverage against their brute-force definitions."""

from __future__ import annotations

import numpy as np
import pytest

from ganforge.metrics.prdc import density_coverage, precision_recall


def _kth_radius(points: np.ndarray, k: int) -> np.ndarray:
    d = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)  # self excluded
    return np.sort(d, axis=1)[:, k - 1]


def _brute_force(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    d = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=2)  # real x fake
    r3x, r3y, r5x = _kth_radius(x, 3), _kth_radius(y, 3), _kth_radius(x, 5)
    precision = np.mean([any(d[i, j] <= r3x[i] for i in range(len(x))) for j in range(len(y))])
    recall = np.mean([any(d[i, j] <= r3y[j] for j in range(len(y))) for i in range(len(x))])
    density = sum(d[i, j] < r5x[i] for i in range(len(x)) for j in range(len(y))) / (5 * len(y))
    coverage = np.mean([d[i].min() < r5x[i] for i in range(len(x))])
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


@pytest.mark.parametrize("block_bytes", [64, 1 << 20])  # 64 B: one row per block, exercising the chunking
def test_prdc_match_brute_force(block_bytes: int) -> None:
    x = np.random.default_rng(0).standard_normal((40, 5))
    y = np.random.default_rng(1).standard_normal((33, 5)) + 1.0
    expected = _brute_force(x, y)
    pr = precision_recall(x, y, max_block_bytes=block_bytes)
    dc = density_coverage(x, y, max_block_bytes=block_bytes)
    assert pr.precision == pytest.approx(expected["precision"])
    assert pr.recall == pytest.approx(expected["recall"])
    assert dc.density == pytest.approx(expected["density"])
    assert dc.coverage == pytest.approx(expected["coverage"])
    assert 0 < pr.precision < 1 and 0 < pr.recall < 1 and 0 < dc.coverage < 1


def test_precision_counts_the_ball_boundary_and_density_does_not() -> None:
    x = np.arange(8.0)[:, None]  # 1-D lattice 0..7: point 0 has r_3 = 3 and r_5 = 5 (integers: exact)
    far = [[100.0], [200.0], [300.0]]
    # a fake point exactly r_3 = 3 from real point 0 and outside every other real ball: counted by <=
    assert precision_recall(x, np.array([[-3.0], *far])).precision == 0.25
    assert precision_recall(x, np.array([[-3.5], *far])).precision == 0.0
    # exactly r_5 = 5 away: not counted by the strict <, neither for density nor for coverage
    on_boundary = density_coverage(x, np.array([[-5.0], *far]))
    assert on_boundary.density == 0.0 and on_boundary.coverage == 0.0
    inside = density_coverage(x, np.array([[-4.5], *far]))
    assert inside.density == pytest.approx(1 / (5 * 4)) and inside.coverage == pytest.approx(1 / 8)


def test_identical_sets_score_high() -> None:
    x = np.random.default_rng(1).standard_normal((60, 4))
    pr, dc = precision_recall(x, x.copy()), density_coverage(x, x.copy())
    assert pr.precision == 1.0 and pr.recall == 1.0 and dc.coverage == 1.0


def test_too_few_samples_for_k() -> None:
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="k=3"):
        precision_recall(x, np.ones((10, 2)))
