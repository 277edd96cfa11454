"""The metric registry: every fact about each metric, so that consumers loop over it instead of naming one.

A :class:`MetricSpec` says which data it scores (``data_kind``: images or 2-D points), what it needs, how it
computes ``(values, protocol)``, the fixed part of its protocol, whether ``auto`` and ``all`` pick it, and
how it ranks runs. Each value it writes into metrics.jsonl is a :class:`MetricValue`: label, display
format, which way is better, and whether it is the spread (±) or the total (of N) of another value.
Reports, ``ganforge serve``, sweeps, ``ganforge evaluate`` and ``--eval-every`` read all of that here, so
adding a metric is its compute function plus one registration below.

Image metrics compute from two feature sets, ``compute(real, fake, options)``; point metrics from the
training data's name and the generated points, ``compute(reference, points, options)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ganforge.data import dataset_channels
from ganforge.data.base import IMAGE, KIND_NOUNS, POINTS
from ganforge.errors import GanforgeError
from ganforge.metrics.frechet import COVARIANCE_RULE, TRACE_SQRT_RULE, fid_from_stats, singular_warning
from ganforge.metrics.inception_score import IS_SEED, IS_SPLITS, inception_score
from ganforge.metrics.kid import KID_SEED, KID_SUBSET_SIZE, KID_SUBSETS, kernel_inception_distance
from ganforge.metrics.modes import MIN_ACCURACY, MODES_SAMPLES, modes_metric
from ganforge.metrics.modes import PROTOCOL_NAME as MODES_PROTOCOL
from ganforge.metrics.prdc import DC_K, FEATURE_NOTE, PR_K, density_coverage, precision_recall
from ganforge.metrics.toy2d import PROTOCOL_NAME, PROTOCOL_NUM_STD, PROTOCOL_SAMPLES, toy2d_metric
from ganforge.registry import Registry

if TYPE_CHECKING:
    import numpy as np

    from ganforge.metrics.extractor import FeatureSet

LOWER, HIGHER = "lower", "higher"  # which way a value is better
MISSING = "—"  # a value not measured (or undefined), wherever values are shown


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


Values = dict[str, Any]  # value key -> float, or None where the value is undefined (reverse KL)
Protocol = dict[str, object]


@dataclass(frozen=True)
class MetricValue:
    """One value a metric writes into metrics.jsonl, and how it is shown and compared."""

    key: str
    label: str  # column header and name in one-line summaries
    format: str = ".4g"  # format spec of the value in tables and summaries
    better: str | None = None  # LOWER or HIGHER; None for values that rank nothing (spreads, totals)
    spread_of: str = ""  # this is the ± of that value (kid_std of kid)
    total_of: str = ""  # this is the "out of" of that value (num_modes of modes)
    curve: bool = False  # drawn against step and wall time (--eval-every curve, report figure)
    best_phrase: str = ""  # how a ranking names its best value; default "lowest/highest <label>"

    @property
    def companion(self) -> bool:
        """Shown next to another value rather than in a column of its own."""
        return bool(self.spread_of or self.total_of)

    @property
    def curve_file(self) -> str:
        """Its --eval-every curve in the run folder."""
        return f"{self.key}_curve.png"

    @property
    def phrase(self) -> str:
        return self.best_phrase or f"{'lowest' if self.better == LOWER else 'highest'} {self.label}"

    def show(self, value: float) -> str:
        return format(value, self.format)

    def better_than(self, value: float, other: float) -> bool:
        return value < other if self.better == LOWER else value > other


def _no_description(protocol: Mapping[str, Any]) -> str | None:
    return None


@dataclass(frozen=True)
class MetricSpec:
    name: str
    description: str
    compute: Callable[..., tuple[Values, Protocol]]
    values: tuple[MetricValue, ...]  # what it returns, in the order reports show them
    data_kind: str = IMAGE  # the data it scores: IMAGE or POINTS
    protocol: Protocol = field(default_factory=dict)  # the fixed part of its protocol, in every record
    needs_real: bool = True  # reference samples (images: features of real images)
    needs_real_features: bool = False  # per-sample real features, not only mean/covariance
    needs_logits: bool = False  # the fake side's 1008-class logits
    min_samples: Callable[[MetricOptions], int] = field(default=lambda options: 2)
    extractor: str = ""  # image metrics: the feature extractor (metrics.extractors.EXTRACTORS) they compute on
    channels: int | None = None  # the image channels it scores (modes: 3, stacked digits); None = any
    in_all: bool = True  # part of --metrics all
    default: bool = False  # what --metrics auto measures on data of its kind
    rank_by: tuple[str, ...] = ()  # value keys that rank runs, compared in this order; () = ranks nothing
    best_checkpoint: bool = True  # --eval-every keeps checkpoints/best.pt by rank_by[0]
    protocol_samples: int | None = None  # the sample count its protocol prescribes; None = the caller's
    note: str = ""  # a caveat said with its rankings and curves
    describe: Callable[[Mapping[str, Any]], str | None] = _no_description  # its part of a protocol line

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(value.key for value in self.values)

    @property
    def columns(self) -> tuple[MetricValue, ...]:
        """The values shown in columns of their own (spreads and totals go with their value)."""
        return tuple(value for value in self.values if not value.companion)

    def value(self, key: str) -> MetricValue:
        return next(value for value in self.values if value.key == key)

    def spread(self, key: str) -> MetricValue | None:
        return next((value for value in self.values if value.spread_of == key), None)

    def total(self, key: str) -> MetricValue | None:
        return next((value for value in self.values if value.total_of == key), None)


def _reference(real: FeatureSet | None) -> FeatureSet:
    """The real side of a metric that ``needs_real``, which score_images has checked is there."""
    assert real is not None
    return real


def _features(fs: FeatureSet | None) -> np.ndarray:
    """Per-image features of a metric that ``needs_real_features``, checked on both sides by score_images."""
    assert fs is not None and fs.features is not None
    return fs.features


def _frechet(key: str) -> Callable[[FeatureSet | None, FeatureSet, MetricOptions], tuple[Values, Protocol]]:
    """A Fréchet distance between the two sides' feature Gaussians, written under ``key``."""

    def compute(real: FeatureSet | None, fake: FeatureSet, options: MetricOptions) -> tuple[Values, Protocol]:
        real = _reference(real)
        for side, fs in (("reference", real), ("generated", fake)):
            count = fs.stats.count or fs.count  # 0 when a statistics file does not say
            message = singular_warning(count, len(fs.stats.mu)) if count else None
            if message:
                warnings.warn(f"{side}: {message}", stacklevel=2)
        return {key: fid_from_stats(real.stats, fake.stats)}, {}

    return compute


def _kid(real: FeatureSet | None, fake: FeatureSet, options: MetricOptions) -> tuple[Values, Protocol]:
    result = kernel_inception_distance(_features(real), _features(fake), num_subsets=options.kid_subsets,
                                       subset_size=options.kid_subset_size, seed=options.kid_seed)
    return {"kid": result.mean, "kid_std": result.std}, {"kid_subsets": result.num_subsets,
                                                          "kid_subset_size": result.subset_size}


def _is(real: FeatureSet | None, fake: FeatureSet, options: MetricOptions) -> tuple[Values, Protocol]:
    assert fake.logits is not None  # score_images checks needs_logits
    result = inception_score(fake.logits, splits=options.is_splits, seed=options.is_seed)
    return {"is": result.mean, "is_std": result.std}, {"is_splits": result.splits, "is_shuffle_seed": options.is_seed}


def _pr(real: FeatureSet | None, fake: FeatureSet, options: MetricOptions) -> tuple[Values, Protocol]:
    result = precision_recall(_features(real), _features(fake), k=options.pr_k)
    return {"precision": result.precision, "recall": result.recall}, {"pr_k": result.k}


def _dc(real: FeatureSet | None, fake: FeatureSet, options: MetricOptions) -> tuple[Values, Protocol]:
    result = density_coverage(_features(real), _features(fake), k=options.dc_k)
    return {"density": result.density, "coverage": result.coverage}, {"dc_k": result.k}


def _kid_subsets(protocol: Mapping[str, Any]) -> str | None:
    size = protocol.get("kid_subset_size")
    return f"KID subsets {protocol.get('kid_subsets')}x{size}" if size else None


def _stacked(protocol: Mapping[str, Any]) -> str | None:
    section = protocol.get("modes")
    if not isinstance(section, Mapping) or section.get("name") != MODES_PROTOCOL:
        return None
    return (f"Stacked-MNIST protocol (each channel labelled by a digit CNN with "
            f"{section.get('held_out_accuracy', float('nan')):.1%} held-out accuracy; KL to uniform over 1,000 modes)")


def _pacgan(protocol: Mapping[str, Any]) -> str | None:
    if protocol.get("name") != PROTOCOL_NAME:
        return None
    return (f"PacGAN 2-D protocol (high quality = within {PROTOCOL_NUM_STD:g} std of the nearest mode; "
            "reverse KL over modes)")


METRICS: Registry[MetricSpec] = Registry("metric", plugin_group="ganforge.metrics")
for _spec in (
    MetricSpec("is", "Inception Score of the generated images, mean and std over splits (higher is better)", _is,
               (MetricValue("is", "IS", ".2f", HIGHER), MetricValue("is_std", "IS std", ".2f", spread_of="is")),
               protocol={"is_logits": "unbiased (pool3 @ fc.weight^T, no bias)"}, needs_real=False,
               needs_logits=True, extractor="inception", min_samples=lambda options: options.is_splits),
    MetricSpec("fid", "Fréchet Inception Distance (lower is better)", _frechet("fid"),
               (MetricValue("fid", "FID", ".2f", LOWER, curve=True),),
               protocol={"fid_covariance": COVARIANCE_RULE, "fid_trace_sqrt": TRACE_SQRT_RULE},
               extractor="inception", default=True, rank_by=("fid",)),
    MetricSpec("kid", "Kernel Inception Distance, mean and std over subsets (lower is better)", _kid,
               (MetricValue("kid", "KID", ".4f", LOWER), MetricValue("kid_std", "KID std", ".4f", spread_of="kid")),
               protocol={"kid_kernel": "(x.y/d + 1)^3, unbiased MMD^2"}, needs_real_features=True,
               extractor="inception", rank_by=("kid",), describe=_kid_subsets),
    MetricSpec("pr", "improved precision and recall, k=3 (higher is better)", _pr,
               (MetricValue("precision", "precision", ".3f", HIGHER), MetricValue("recall", "recall", ".3f", HIGHER)),
               protocol={"pr_rule": "d <= k-NN radius", "pr_features": FEATURE_NOTE}, needs_real_features=True,
               extractor="inception", min_samples=lambda options: options.pr_k + 1),
    MetricSpec("dc", "density and coverage, k=5 (higher is better)", _dc,
               (MetricValue("density", "density", ".3f", HIGHER), MetricValue("coverage", "coverage", ".3f", HIGHER)),
               protocol={"dc_rule": "d < k-NN radius of real points", "dc_features": FEATURE_NOTE},
               needs_real_features=True, extractor="inception", min_samples=lambda options: options.dc_k + 1),
    MetricSpec("fd_dinov2", "Fréchet distance on DINOv2 ViT-L/14 CLS features (FD_DINOv2, Stein et al. 2023; "
               "needs --extractor-weights dinov2=PATH; lower is better)", _frechet("fd_dinov2"),
               (MetricValue("fd_dinov2", "FD_DINOv2", ".2f", LOWER, curve=True),),
               protocol={"fd_dinov2_covariance": COVARIANCE_RULE, "fd_dinov2_trace_sqrt": TRACE_SQRT_RULE},
               extractor="dinov2", in_all=False, rank_by=("fd_dinov2",), note="DINOv2 features"),
    MetricSpec("fd_digits", "Fréchet distance on a small digit classifier's features: a fast CPU monitor for "
               "digit data, NOT FID (lower is better)", _frechet("fd_digits"),
               (MetricValue("fd_digits", "FD_digits", ".2f", LOWER, curve=True),),
               protocol={"fd_digits_note": "Fréchet distance on ganforge's digit-classifier features; not FID, not "
                                           "comparable with FID or across classifier files"},
               extractor="digits", in_all=False, rank_by=("fd_digits",), note="digit-classifier features, not FID"),
    MetricSpec("toy2d", f"PacGAN mode-collapse scores of {PROTOCOL_SAMPLES:,} samples: modes captured, high-quality "
               "share, reverse KL", toy2d_metric,
               (MetricValue("modes", "modes", ".0f", HIGHER, best_phrase="most modes captured"),
                MetricValue("num_modes", "modes in the mixture", ".0f", total_of="modes"),
                MetricValue("high_quality", "HQ", ".1%", HIGHER, curve=True),
                MetricValue("reverse_kl", "reverse KL", ".3f", LOWER)),
               data_kind=POINTS, needs_real=False, min_samples=lambda options: 1, extractor="", in_all=False,
               protocol={"name": PROTOCOL_NAME, "unit": "points",
                         "hq_rule": f"within {PROTOCOL_NUM_STD:g} std of the nearest mode"},
               default=True, rank_by=("modes", "reverse_kl"), best_checkpoint=False,
               protocol_samples=PROTOCOL_SAMPLES, note="PacGAN 2-D", describe=_pacgan),
    MetricSpec("modes", f"Stacked-MNIST modes (VEEGAN/PacGAN) of {MODES_SAMPLES:,} 3-channel samples, e.g. --data "
               "stacked:digits5k: digit triples covered of 1,000 (higher is better) and KL to uniform (lower)",
               modes_metric,
               (MetricValue("stacked_modes", "modes", ".0f", HIGHER, best_phrase="most modes covered"),
                MetricValue("stacked_num_modes", "modes in the set", ".0f", total_of="stacked_modes"),
                MetricValue("stacked_kl", "KL", ".3f", LOWER, curve=True)),
               protocol={"name": MODES_PROTOCOL, "unit": "generated images",
                         "mode_rule": f"argmax digit per channel (classifier >= {MIN_ACCURACY:.0%} held-out "
                                      "accuracy); mode = 100 d0 + 10 d1 + d2"},
               needs_real=False, min_samples=lambda options: 1, extractor="modes", channels=3, in_all=False,
               rank_by=("stacked_modes", "stacked_kl"), best_checkpoint=False, protocol_samples=MODES_SAMPLES,
               note="Stacked MNIST", describe=_stacked),
):
    METRICS.register(_spec.name, _spec)


def specs() -> Iterator[MetricSpec]:
    """Every registered metric, in registry order (the order of columns and of ranking preference)."""
    return (spec for _, spec in METRICS.items())


def metrics_on(extractor: str) -> tuple[str, ...]:
    """The registered metrics computed on the features of the extractor named ``extractor``."""
    return tuple(spec.name for spec in specs() if spec.extractor == extractor)


def kind_metrics(kind: str) -> list[MetricSpec]:
    return [spec for spec in specs() if spec.data_kind == kind]


def metric_choices(kind: str | None = None) -> str:
    """'is, fid, kid, pr, dc, fd_digits, toy2d, all or auto': what --metrics accepts (for ``kind``)."""
    fitting = [spec for spec in specs() if kind is None or spec.data_kind == kind]
    names = [spec.name for spec in fitting] + (["all"] if any(spec.in_all for spec in fitting) else [])
    return ", ".join(names) + " or auto"


def _fit_error(option: str, given: str, misfits: list[MetricSpec], kind: str, data: str | None) -> GanforgeError:
    needs = " and ".join(sorted({KIND_NOUNS[spec.data_kind] for spec in misfits}))
    return GanforgeError(f"{option} {given} needs {needs}, but {data or 'the data'} is {KIND_NOUNS[kind]}; "
                         f"use {metric_choices(kind)}")


def resolve_metrics(names: str | Iterable[str], kind: str | None = None, *, option: str = "--metrics",
                    data: str | None = None) -> list[MetricSpec]:
    """'fid,kid' or ['fid', 'kid'] -> specs, in the given order; 'all' means every metric marked ``in_all``,
    'auto' the registry's default for ``kind``.

    Unknown names raise a GanforgeError listing the valid ones. With ``kind`` (the data's), a metric of
    another kind is a one-line error naming ``option``, ``data`` and the metrics that fit.
    """
    parts = names.split(",") if isinstance(names, str) else list(names)
    wanted = [p.strip().lower() for p in parts if p and p.strip()]
    if not wanted:
        raise GanforgeError(f"no metric given; choose from: {metric_choices(kind)}")
    chosen: list[MetricSpec] = []
    for name in wanted:
        if name == "auto":
            if kind is None:
                raise GanforgeError(f"{option} auto picks metrics by the data they score; name them here "
                                    f"({metric_choices()})")
            expanded = [spec for spec in kind_metrics(kind) if spec.default]
        elif name == "all":
            expanded = [spec for spec in specs() if spec.in_all]
        else:
            expanded = [METRICS.get(name)]
        chosen += [spec for spec in expanded if spec not in chosen]
    misfits = [spec for spec in chosen if kind is not None and spec.data_kind != kind]
    if misfits:
        raise _fit_error(option, ",".join(wanted), misfits, str(kind), data)
    _check_channels(chosen, option, data)
    return chosen


def _check_channels(chosen: Sequence[MetricSpec], option: str, data: str | None) -> None:
    """Metrics that score images of a fixed channel count (modes: 3) refuse data declared otherwise."""
    fixed = [spec for spec in chosen if spec.channels]
    if not fixed or data is None:
        return

    channels = dataset_channels(data)
    for spec in fixed:
        if channels is not None and channels != spec.channels:
            raise GanforgeError(f"{option} {spec.name} scores {spec.channels}-channel images ({spec.note}), but "
                                f"{data} has {channels} channel{'s' if channels > 1 else ''}; choose other metrics "
                                f"or {spec.channels}-channel data")


def protocol_samples(chosen: Sequence[MetricSpec]) -> int | None:
    """The sample count the metrics' protocol prescribes (PacGAN: 2,500), None when they leave it open."""
    return next((spec.protocol_samples for spec in chosen if spec.protocol_samples), None)


def metric_values() -> Iterator[tuple[MetricSpec, MetricValue]]:
    """Every value of every metric, in registry order."""
    return ((spec, value) for spec in specs() for value in spec.values)


def value_keys() -> tuple[str, ...]:
    """Every key a metrics.jsonl record may carry a value under."""
    return tuple(value.key for _, value in metric_values())


def find_value(key: str) -> tuple[MetricSpec, MetricValue] | None:
    return next(((spec, value) for spec, value in metric_values() if value.key == key), None)


def value_title(key: str) -> str:
    """'FD_digits (digit-classifier features, not FID)': a value's label with its metric's caveat."""
    found = find_value(key)
    if found is None:
        return key
    spec, value = found
    return f"{value.label} ({spec.note})" if spec.note else value.label


def ranking_metrics(kind: str | None = None) -> list[MetricSpec]:
    """The metrics that rank runs, most trusted first (registry order), of ``kind`` when given."""
    return [spec for spec in specs() if spec.rank_by and (kind is None or spec.data_kind == kind)]


def checkpoint_value(chosen: Sequence[MetricSpec]) -> MetricValue | None:
    """The value --eval-every keeps checkpoints/best.pt by: the best-trusted ranking metric measured."""
    for spec in ranking_metrics():
        if spec in chosen and spec.best_checkpoint:
            return spec.value(spec.rank_by[0])
    return None


def show_value(spec: MetricSpec, value: MetricValue, values: Mapping[str, Any]) -> str:
    """``value`` as a table shows it: with its spread (2.50 ± 0.10) or its total (7/8); MISSING if absent."""
    number = values.get(value.key)
    if number is None:
        return MISSING
    text = value.show(number)
    spread, total = spec.spread(value.key), spec.total(value.key)
    if spread is not None and values.get(spread.key) is not None:
        text += f" ± {spread.show(values[spread.key])}"
    if total is not None and values.get(total.key) is not None:
        text += f"/{total.show(values[total.key])}"
    return text


def describe_values(values: Mapping[str, Any]) -> str:
    """'FID 45.21, KID 0.0312 ± 0.0011' or 'modes 7/8, HQ 84.2%, reverse KL 0.123': the measured values."""
    return ", ".join(f"{value.label} {show_value(spec, value, values)}" for spec in specs()
                     for value in spec.columns if value.key in values)


def describe_protocol_parts(protocol: Mapping[str, Any]) -> list[str]:
    """What the metrics themselves say about a recorded protocol (KID subsets, the PacGAN rules)."""
    parts = (spec.describe(protocol) for spec in specs())
    return [part for part in parts if part]


def legacy_protocol(name: str, num_fake: object) -> Protocol:
    """A protocol recorded as a bare name (metrics.jsonl of older versions) as the dict recorded now."""
    fixed = next((spec.protocol for spec in specs() if spec.protocol.get("name") == name), {})
    return {**fixed, "name": name, "num_fake": num_fake}
