"""KID against a brute-force double loop; Inception Score edge cases and formula."""

from __future__ import annotations

import numpy as np
import pytest

from ganforge.metrics import kid as kid_module
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.kid import kernel_inception_distance


def _brute_force_kid(x: np.ndarray, y: np.ndarray, subsets: int, size: int, seed: int) -> tuple[float, float]:
    rng = np.random.RandomState(seed)
    d = x.shape[1]
    values = []
    for _ in range(subsets):
        sx = x[rng.choice(len(x), size, replace=False)]
        sy = y[rng.choice(len(y), size, replace=False)]
        k = lambda a, b: (float(a @ b) / d + 1.0) ** 3  # noqa: E731
        xx = sum(k(sx[i], sx[j]) for i in range(size) for j in range(size) if i != j)
        yy = sum(k(sy[i], sy[j]) for i in range(size) for j in range(size) if i != j)
        xy = sum(k(sx[i], sy[j]) for i in range(size) for j in range(size))
        values.append((xx + yy) / (size * (size - 1)) - 2 * xy / size**2)
    return float(np.mean(values)), float(np.std(values))


@pytest.mark.parametrize("full_gram", [True, False])
def test_kid_matches_brute_force(full_gram: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not full_gram:
        monkeypatch.setattr(kid_module, "_FULL_GRAM_MAX_ENTRIES", 0)
    rng = np.random.default_rng(0)
    x, y = rng.random((30, 6)), rng.random((25, 6)) + 0.2
    result = kernel_inception_distance(x, y, num_subsets=4, subset_size=10, seed=3)
    mean, std = _brute_force_kid(x, y, 4, 10, 3)
    assert result.mean == pytest.approx(mean, rel=1e-10)
    assert result.std == pytest.approx(std, rel=1e-8)
    assert (result.subset_size, result.num_subsets) == (10, 4)


def test_kid_too_few_samples_warns_with_numbers_or_raises() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.random((40, 4)), rng.random((30, 4))
    with pytest.warns(UserWarning, match=r"1000 is larger than the samples available \(40 real, 30 fake\)"):
        result = kernel_inception_distance(x, y, num_subsets=2)
    assert result.subset_size == 30
    with pytest.raises(ValueError, match="40 real, 30 fake"):
        kernel_inception_distance(x, y, num_subsets=2, strict=True)


def test_kid_is_near_zero_for_one_distribution() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.random((400, 8)), rng.random((400, 8))
    shifted = kernel_inception_distance(x, y + 1.0, num_subsets=5, subset_size=200)
    same = kernel_inception_distance(x, y, num_subsets=5, subset_size=200)
    assert abs(same.mean) < 0.05 * shifted.mean


def test_is_is_one_for_identical_predictions() -> None:
    logits = np.tile(np.random.default_rng(3).standard_normal(20), (50, 1))
    result = inception_score(logits)
    assert result.mean == pytest.approx(1.0, abs=1e-12)
    assert result.std == pytest.approx(0.0, abs=1e-12)


def test_is_is_k_for_confident_balanced_predictions() -> None:
    k = 8
    logits = np.full((10 * k, k), -1e4)
    logits[np.arange(10 * k), np.arange(10 * k) % k] = 1e4  # every split holds each class equally often
    result = inception_score(logits, splits=10, shuffle=False)
    assert result.mean == pytest.approx(k, rel=1e-12)
    assert result.std == pytest.approx(0.0, abs=1e-9)


def test_is_matches_formula_with_seeded_shuffle_and_ddof_0() -> None:
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((53, 12)) * 3
    result = inception_score(logits, splits=5, seed=7)
    shuffled = logits[np.random.RandomState(7).permutation(53)]
    p = np.exp(shuffled - shuffled.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(5):
        chunk = p[i * 53 // 5:(i + 1) * 53 // 5]
        marginal = chunk.mean(0, keepdims=True)
        scores.append(np.exp(np.mean(np.sum(chunk * (np.log(chunk) - np.log(marginal)), axis=1))))
    assert result.mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert result.std == pytest.approx(np.std(scores), rel=1e-8)
    with pytest.raises(ValueError):
        inception_score(logits[:3], splits=10)
