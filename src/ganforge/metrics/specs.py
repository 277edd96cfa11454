"""The metric registry: ``--metrics fid,kid,is,pr,dc`` resolves here by name.

Each :class:`MetricSpec` says what it needs (real statistics only, real per-sample features, fake
logits) and the fewest samples it accepts, and computes ``(values, protocol)`` from two feature sets.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ganforge.errors import GanforgeError
from ganforge.metrics.extractor import FeatureSet
from ganforge.metrics.frechet import COVARIANCE_RULE, TRACE_SQRT_RULE, fid_from_stats, singular_warning
from ganforge.metrics.inception_score import IS_SEED, IS_SPLITS, inception_score
from ganforge.metrics.kid import KID_SEED, KID_SUBSET_SIZE, KID_SUBSETS, kernel_inception_distance
from ganforge.metrics.prdc import DC_K, FEATURE_NOTE, PR_K, density_coverage, precision_recall
from ganforge.registry import Registry


@dataclass(frozen=True)
class MetricOptions:
    """Protocol parameters; the defaults are the reference implementations' ones."""

    kid_subsets: int = KID_SUBSETS
    kid_subset_size: int = KID_SUBSET_SIZE
    kid_seed: int = KID_SEED
    is_splits: int = IS_SPLITS
    is_seed: int = IS_SEED
    pr_k: int = PR_K
    dc_k: int = DC_K


Values = dict[str, float]
Protocol = dict[str, object]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    description: str
    compute: Callable[[FeatureSet | None, FeatureSet, MetricOptions], tuple[Values, Protocol]]
    keys: tuple[str, ...]  # names of the values it returns
    needs_real: bool = True
    needs_real_features: bool = False  # per-sample real features, not only mean/covariance
    needs_logits: bool = False  # the fake side's 1008-class logits
    min_samples: Callable[[MetricOptions], int] = field(default=lambda options: 2)
    extractor: str = "inception"  # which features: "inception" (pool3/logits) or "digits" (FD_digits)
    in_all: bool = True  # part of --metrics all


def _fid(real: FeatureSet | None, fake: FeatureSet, options: MetricOptions) -> tuple[Values, Protocol]:
    for side, fs in (("reference", real), ("generated", fake)):
        count = fs.stats.count or fs.count  # 0 when a statistics file does not say
        message = singular_warning(count, len(fs.stats.mu)) if count else None
        if message:
            warnings.warn(f"{side}: {message}", stacklevel=2)
    return {"fid": fid_from_stats(real.stats, fake.stats)}, {"fid_covariance": COVARIANCE_RULE,
                                                              "fid_trace_sqrt": TRACE_SQRT_RULE}


def _kid(real: FeatureSet | None, fake: FeatureSet, options: MetricOptions) -> tuple[Values, Protocol]:
    result = kernel_inception_distance(real.features, fake.features, num_subsets=options.kid_subsets,
                                       subset_size=options.kid_subset_size, seed=options.kid_seed)
    return {"kid": result.mean, "kid_std": result.std}, {
        "kid_kernel": "(x.y/d + 1)^3, unbiased MMD^2", "kid_subsets": result.num_subsets,
        "kid_subset_size": result.subset_size}


def _is(real: FeatureSet | None, fake: FeatureSet, options: MetricOptions) -> tuple[Values, Protocol]:
    result = inception_score(fake.logits, splits=options.is_splits, seed=options.is_seed)
    return {"is": result.mean, "is_std": result.std}, {
        "is_splits": result.splits, "is_logits": "unbiased (pool3 @ fc.weight^T, no bias)",
        "is_shuffle_seed": options.is_seed}


def _pr(real: FeatureSet | None, fake: FeatureSet, options: MetricOptions) -> tuple[Values, Protocol]:
    result = precision_recall(real.features, fake.features, k=options.pr_k)
    return {"precision": result.precision, "recall": result.recall}, {
        "pr_k": result.k, "pr_rule": "d <= k-NN radius", "pr_features": FEATURE_NOTE}


def _dc(real: FeatureSet | None, fake: FeatureSet, options: MetricOptions) -> tuple[Values, Protocol]:
    result = density_coverage(real.features, fake.features, k=options.dc_k)
    return {"density": result.density, "coverage": result.coverage}, {
        "dc_k": result.k, "dc_rule": "d < k-NN radius of real points", "dc_features": FEATURE_NOTE}


def _fd_digits(real: FeatureSet | None, fake: FeatureSet, options: MetricOptions) -> tuple[Values, Protocol]:
    return {"fd_digits": fid_from_stats(real.stats, fake.stats)}, {
        "fd_digits_note": "Fréchet distance on ganforge's digit-classifier features; not FID, not comparable "
                          "with FID or across classifier files"}


METRICS: Registry[MetricSpec] = Registry("metric", plugin_group="ganforge.metrics")
for _spec in (
    MetricSpec("fid", "Fréchet Inception Distance (lower is better)", _fid, ("fid",)),
    MetricSpec("kid", "Kernel Inception Distance, mean and std over subsets (lower is better)", _kid,
               ("kid", "kid_std"), needs_real_features=True),
    MetricSpec("is", "Inception Score of the generated images, mean and std over splits (higher is better)",
               _is, ("is", "is_std"), needs_real=False, needs_logits=True,
               min_samples=lambda options: options.is_splits),
    MetricSpec("pr", "improved precision and recall, k=3 (higher is better)", _pr, ("precision", "recall"),
               needs_real_features=True, min_samples=lambda options: options.pr_k + 1),
    MetricSpec("dc", "density and coverage, k=5 (higher is better)", _dc, ("density", "coverage"),
               needs_real_features=True, min_samples=lambda options: options.dc_k + 1),
    MetricSpec("fd_digits", "Fréchet distance on a small digit classifier's features: a fast CPU monitor for "
               "digit data, NOT FID (lower is better)", _fd_digits, ("fd_digits",), extractor="digits",
               in_all=False),
):
    METRICS.register(_spec.name, _spec)


def resolve_metrics(names: str | Iterable[str]) -> list[MetricSpec]:
    """'fid,kid' or ['fid', 'kid'] -> specs, in the given order; 'all' means every Inception metric.

    Unknown names raise a GanforgeError listing the valid ones.
    """
    parts = names.split(",") if isinstance(names, str) else list(names)
    wanted = [p.strip().lower() for p in parts if p and p.strip()]
    if not wanted:
        raise GanforgeError(f"no metric given; choose from: {', '.join(METRICS.names())}")
    if "all" in wanted:
        wanted = [name for name in wanted if name != "all"] + [n for n, s in METRICS.items() if s.in_all]
    specs: list[MetricSpec] = []
    for name in wanted:
        spec = METRICS.get(name)
        if spec not in specs:
            specs.append(spec)
    return specs
