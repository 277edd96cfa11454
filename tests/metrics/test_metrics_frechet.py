"""Fréchet distance: closed forms, singular covariances, agreement with the complex-eigenvalue route."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

from ganforge.metrics.frechet import (
    feature_statistics,
    fid_from_stats,
    frechet_distance,
    trace_sqrt_product,
    trace_sqrt_product_eigvals,
)


def _rotation(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def test_unit_gaussians_one_apart_in_2048_d(monkeypatch: pytest.MonkeyPatch) -> None:
    # The distance must take the symmetric (Cholesky + eigvalsh) route: the general-matrix routes (eigvals of
    # S1 S2, scipy's sqrtm) take minutes at d = 2048, so they are made to fail here instead of timed.
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("frechet_distance took a general-matrix route")

    monkeypatch.setattr(np.linalg, "eigvals", refuse)
    monkeypatch.setattr(scipy.linalg, "sqrtm", refuse)
    d = 2048
    value = frechet_distance(np.zeros(d), np.eye(d), np.ones(d), np.eye(d))
    assert value == pytest.approx(2048.0, rel=1e-10)


def test_diagonal_gaussians_closed_form() -> None:
    rng = np.random.default_rng(0)
    d = 64
    a, b = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    # the same Gaussians in a rotated basis: FID is rotation invariant
    q = _rotation(d, 1)
    rotated = frechet_distance(q @ mu1, q @ np.diag(a) @ q.T, q @ mu2, q @ np.diag(b) @ q.T)
    assert rotated == pytest.approx(expected, rel=1e-9)


def test_singular_covariances_stay_finite_and_exact() -> None:
    d = 50
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0.5, 2.0, d), rng.uniform(0.5, 2.0, d)
    a[:20] = 0.0  # rank 30
    b[10:35] = 0.0  # rank 25, also singular
    q = _rotation(d, 3)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    value = frechet_distance(np.zeros(d), s1, np.zeros(d), s2)
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-6)


def test_fewer_samples_than_dimensions_warns_and_stays_finite() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((20, 64)), rng.standard_normal((20, 64)) + 0.5
    with pytest.warns(UserWarning, match="singular"):
        sx = feature_statistics(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sy = feature_statistics(y)
    assert np.isfinite(frechet_distance(sx.mu, sx.sigma, sy.mu, sy.sigma))


def test_low_rank_factor_route_equals_full_route() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((12, 40)), rng.standard_normal((80, 40)) * 0.7 + 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sx, sy = feature_statistics(x), feature_statistics(y)
    assert sx.factor is not None and sx.factor.shape == (40, 11)
    np.testing.assert_allclose(sx.factor @ sx.factor.T, sx.sigma, atol=1e-12)
    # independent exact value: Tr sqrt(F F^T L L^T) = sum of singular values of F^T L (S_y = L L^T)
    trace_sqrt = np.linalg.svd(sx.factor.T @ np.linalg.cholesky(sy.sigma), compute_uv=False).sum()
    exact = np.sum((sx.mu - sy.mu) ** 2) + np.trace(sx.sigma) + np.trace(sy.sigma) - 2 * trace_sqrt
    assert fid_from_stats(sx, sy) == pytest.approx(exact, rel=1e-10)
    assert fid_from_stats(sy, sx) == pytest.approx(exact, rel=1e-10)
    # without the factor the d x d route sees rounding-level "eigenvalues" in the null space: ~1e-8 off
    full = frechet_distance(sx.mu, sx.sigma, sy.mu, sy.sigma)
    assert full == pytest.approx(exact, rel=1e-6)


def test_statistics_are_float64_and_unbiased() -> None:
    x = np.random.default_rng(5).standard_normal((300, 8)).astype(np.float32)
    stats = feature_statistics(x)
    assert stats.mu.dtype == np.float64 and stats.sigma.dtype == np.float64 and stats.count == 300
    np.testing.assert_allclose(stats.sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-12)


def test_symmetric_route_agrees_with_complex_eigenvalues_to_1e_8() -> None:
    rng = np.random.default_rng(6)
    d = 128
    x, y = rng.standard_normal((300, d)), rng.standard_normal((350, d)) @ rng.uniform(0.5, 1.5, (d, d)) / 10
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    fast, reference = trace_sqrt_product(s1, s2), trace_sqrt_product_eigvals(s1, s2)
    assert fast == pytest.approx(reference, rel=1e-8)
    assert trace_sqrt_product(s2, s1) == pytest.approx(reference, rel=1e-8)


def test_identical_statistics_give_zero() -> None:
    x = np.random.default_rng(7).standard_normal((100, 16))
    s = feature_statistics(x)
    assert frechet_distance(s.mu, s.sigma, s.mu, s.sigma) == pytest.approx(0.0, abs=1e-9)
