"""Fréchet distance between Gaussians fitted to features (FID when the features are Inception pool3).

Protocol (TTUR / pytorch-fid / torch-fidelity): ``FID = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2))``
with mean and covariance in float64 and the unbiased covariance (divisor N - 1, like ``np.cov``;
NVIDIA's StyleGAN code divides by N, which differs by a factor N/(N-1) on the covariance terms).

The dense linear algebra runs through torch rather than numpy: on a 2-core machine shared with other
processes, numpy's OpenBLAS threads busy-wait and the d = 2048 solve slowed from ~1 s to 15-30 s in our
measurements, while torch's took 8-12 s under the same load (~0.9 s for both when idle).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

COVARIANCE_RULE = "float64, unbiased (divisor N-1, as np.cov)"
TRACE_SQRT_RULE = ("Tr((S1 S2)^1/2) = sum sqrt(eigvalsh(F^T S2 F)), S1 = F F^T (Cholesky; the (d, N-1) feature "
                   "factor when N <= d; eigh otherwise), negatives clipped to 0; equals the complex "
                   "eigvals(S1 S2) route")


@dataclass(frozen=True)
class GaussianStats:
    """Mean (d,) and covariance (d, d) of ``count`` feature vectors, float64.

    ``factor`` (d, r) with ``factor @ factor.T == sigma`` is kept when N <= d (r = N - 1): the covariance
    is then low rank and this factor makes the trace term an r x r problem instead of a d x d one.
    """

    mu: np.ndarray
    sigma: np.ndarray
    count: int
    factor: np.ndarray | None = None


def singular_warning(n: int, d: int) -> str | None:
    """The warning text for N < d samples (singular covariance), or None when N >= d."""
    if n >= d:
        return None
    return (f"{n} samples for {d}-d features: the covariance is singular (rank <= {n - 1}); FID is "
            "computable but biased and noisy, use >= 10k samples for reportable numbers")


def feature_statistics(features: np.ndarray, warn: bool = True) -> GaussianStats:
    """Mean and unbiased covariance (N - 1) of ``(N, d)`` features, accumulated in float64.

    Warns (unless ``warn=False``) when N < d: the covariance is then singular (FID stays finite but is
    biased upwards and noisy).
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need an (N >= 2, d) feature matrix, got shape {x.shape}")
    n, d = x.shape
    message = singular_warning(n, d)
    if warn and message:
        warnings.warn(message, stacklevel=2)
    mu = x.mean(axis=0)
    centered = torch.from_numpy(x - mu)
    sigma = (centered.T @ centered / (n - 1)).numpy()  # torch BLAS: see the module note on threads
    factor = _helmert_factor(centered.numpy()) if n <= d else None
    return GaussianStats(mu, sigma, n, factor)


def _helmert_factor(centered: np.ndarray) -> np.ndarray:
    """(d, N-1) F with F F^T = centered^T centered / (N-1), of full column rank.

    The N centered rows span only N-1 dimensions; using them as the factor would leave one exactly-zero
    eigenvalue whose rounding noise enters the trace as sqrt(eps). The Helmert rows
    h_k = (x_1 + ... + x_k - k x_{k+1}) / sqrt(k (k+1)) are an orthonormal change of basis of that space.
    """
    n = len(centered)
    k = np.arange(1, n, dtype=np.float64)[:, None]
    rows = (np.cumsum(centered, axis=0)[:-1] - k * centered[1:]) / np.sqrt(k * (k + 1))
    return rows.T / np.sqrt(n - 1)


def _psd_factor(sigma: torch.Tensor) -> torch.Tensor:
    """F with F F^T = sigma: Cholesky when positive definite (fast), else from eigh (singular sigma)."""
    factor, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        return factor
    values, vectors = torch.linalg.eigh(sigma)
    return vectors * values.clamp(min=0.0).sqrt()


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, factor1: np.ndarray | None = None) -> float:
    """Tr((S1 S2)^(1/2)) for symmetric positive semi-definite S1, S2.

    S1 S2 is not symmetric, but with S1 = F F^T its nonzero eigenvalues are those of the symmetric PSD
    matrix F^T S2 F, so they are real and >= 0: one Cholesky and one eigenvalue-only symmetric solve
    instead of a general eigen decomposition (3x faster at d = 2048). ``factor1`` (any F with F F^T = S1,
    e.g. the scaled centered features when N < d) skips the factorization and shrinks the solve to r x r.
    Rounding can make eigenvalues of a singular product slightly negative; they are clipped to 0 (where
    the complex route would take the real part of an imaginary square root, i.e. also 0).
    """
    s1 = torch.as_tensor(np.asarray(sigma1, dtype=np.float64))
    s2 = torch.as_tensor(np.asarray(sigma2, dtype=np.float64))
    factor = torch.as_tensor(np.asarray(factor1, dtype=np.float64)) if factor1 is not None else _psd_factor(s1)
    inner = factor.T @ s2 @ factor
    inner = (inner + inner.T) * 0.5  # exact symmetry for the symmetric solver
    eigenvalues = torch.linalg.eigvalsh(inner)
    return float(eigenvalues.clamp(min=0.0).sqrt().sum())


def trace_sqrt_product_eigvals(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Reference route (torch-fidelity >= 0.4): real part of sum sqrt(eigvals(S1 S2)) in complex128.

    Slower; kept to cross-check :func:`trace_sqrt_product` in tests.
    """
    product = np.asarray(sigma1, dtype=np.float64) @ np.asarray(sigma2, dtype=np.float64)
    eigenvalues = np.linalg.eigvals(product).astype(np.complex128)
    return float(np.sqrt(eigenvalues).real.sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, *,
                     factor1: np.ndarray | None = None, factor2: np.ndarray | None = None) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), computed in float64.

    Finite for singular covariances (fewer samples than dimensions). Symmetric in its two arguments.
    ``factor1``/``factor2`` (F with F F^T = sigma, see :class:`GaussianStats`) only make it faster.
    """
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    s1, s2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != mu1.shape * 2:
        raise ValueError(f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}")
    # Tr sqrt(S1 S2) = Tr sqrt(S2 S1): factor whichever side has the narrower known factor.
    if factor2 is not None and (factor1 is None or factor2.shape[1] < factor1.shape[1]):
        s1, s2, factor1 = s2, s1, factor2
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2, factor1))
    # The exact distance is >= 0; rounding can leave a tiny negative for identical inputs.
    return max(value, 0.0)


def fid_from_stats(a: GaussianStats, b: GaussianStats) -> float:
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma, factor1=a.factor, factor2=b.factor)
