"""One call from a generator (or generated images) to metric values plus the protocol they followed.

The result is a flat dict ready for ``metrics.jsonl``: the values of the registered image metrics
(:mod:`ganforge.metrics.specs`; ``auto`` = the registry's default, FID) and a ``protocol`` dict (N real,
N fake, weights sha256, resize rule, reference, warnings...). Inception metrics describe their protocol
at its top level; ``fd_digits`` in ``protocol["digits"]``, ``modes`` in ``protocol["modes"]``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganforge import __version__
from ganforge.data.base import IMAGE
from ganforge.errors import GanforgeError
from ganforge.metrics.extractor import (
    DEFAULT_BATCH_SIZE,
    Extractor,
    FeatureExtractor,
    FeatureSet,
    extract_features,
    get_extractor,
)
from ganforge.metrics.reference import reference_features
from ganforge.metrics.sources import ImageSource, as_source, generator_source
from ganforge.metrics.specs import MetricOptions, MetricSpec, resolve_metrics
from ganforge.models.base import latent_size


@dataclass(frozen=True)
class ExtractorRequest:
    """What building a feature extractor may use: a ready Inception extractor, weights, device, cache."""

    inception: FeatureExtractor | None
    weights: str | Path | None
    device: str
    batch_size: int
    download: bool
    cache_dir: Path | None


def _inception(group: Sequence[MetricSpec], request: ExtractorRequest) -> tuple[Extractor, bool]:
    need_logits = any(spec.needs_logits for spec in group)
    inception = request.inception or get_extractor(request.weights, need_logits=need_logits, device=request.device,
                                                   batch_size=request.batch_size, download=request.download,
                                                   cache_dir=request.cache_dir)
    return inception, need_logits


def _digits(group: Sequence[MetricSpec], request: ExtractorRequest) -> tuple[Extractor, bool]:
    from ganforge.metrics.digits import get_digit_extractor

    return get_digit_extractor(request.cache_dir, request.device), False


def _modes(group: Sequence[MetricSpec], request: ExtractorRequest) -> tuple[Extractor, bool]:
    from ganforge.metrics.modes import get_mode_classifier

    return get_mode_classifier(request.cache_dir, request.device), False


# MetricSpec.extractor -> how its (extractor, with_logits) is built for the metrics that name it
FEATURE_EXTRACTORS: dict[str, Callable[[Sequence[MetricSpec], ExtractorRequest], tuple[Extractor, bool]]] = {
    "inception": _inception,
    "digits": _digits,
    "modes": _modes,
}


def compute_metrics(specs: Sequence[MetricSpec], real: FeatureSet | None, fake: FeatureSet,
                    options: MetricOptions | None = None) -> tuple[dict[str, float], dict[str, object]]:
    """Run ``specs`` on already extracted features: ``(values, protocol)``; warnings land in the protocol."""
    options = options or MetricOptions()
    values: dict[str, float] = {}
    protocol: dict[str, object] = {}
    notes: list[str] = []
    for spec in specs:
        minimum = spec.min_samples(options)
        if fake.count < minimum:
            raise GanforgeError(f"metric '{spec.name}' needs at least {minimum} generated samples, got {fake.count}")
        if spec.needs_real:
            if real is None:
                raise GanforgeError(f"metric '{spec.name}' needs reference images")
            if spec.needs_real_features and real.features is None:
                raise GanforgeError(f"metric '{spec.name}' needs per-image reference features; "
                                    f"{real.description} holds only mean and covariance")
            if real.count and real.count < minimum:
                raise GanforgeError(f"metric '{spec.name}' needs at least {minimum} reference samples, "
                                    f"got {real.count}")
        if spec.needs_real_features and fake.features is None:  # they compare real with generated features
            raise GanforgeError(f"metric '{spec.name}' needs per-image features of the generated images; "
                                f"{fake.description} holds only mean and covariance")
        if spec.needs_logits and fake.logits is None:
            raise GanforgeError(f"metric '{spec.name}' needs the 1008-class logits of the generated images")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spec_values, spec_protocol = spec.compute(real, fake, options)
        for warning in caught:
            notes.append(f"{spec.name}: {warning.message}")
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        values.update(spec_values)
        protocol.update({**spec.protocol, **spec_protocol})
    if notes:
        protocol["warnings"] = notes
    return values, protocol


def _base_protocol(extractor: Extractor, real: FeatureSet | None, fake: FeatureSet) -> dict[str, object]:
    protocol: dict[str, object] = dict(extractor.protocol())
    protocol.update({"num_fake": fake.count, "skipped_fake": len(fake.skipped), "ganforge_version": __version__})
    if real is not None:
        protocol.update({"num_real": real.count, "skipped_real": len(real.skipped),
                         "reference_cached": real.from_cache})
        key = real.protocol.get("reference_key")
        if isinstance(key, dict):
            for field in ("dataset", "split", "resolution", "num_samples", "path"):
                if field in key:
                    protocol[f"reference_{field}"] = key[field]
    return protocol


def evaluate_images(fake: object, metrics: str | Iterable[str] = "auto", reference: str | Path | FeatureSet = "digits5k",
                    *, num_samples: int | None = None, split: str = "train", resolution: int | None = None,
                    reference_samples: int | None = None, options: MetricOptions | None = None,
                    extractor: FeatureExtractor | None = None, weights: str | Path | None = None,
                    batch_size: int = DEFAULT_BATCH_SIZE, device: str = "cpu", cache_dir: Path | None = None,
                    download: bool = True, progress: bool = False) -> dict[str, object]:
    """Metrics of generated images against a reference; returns values + ``protocol`` (see module doc).

    ``fake``: a uint8 tensor, an iterable of uint8 batches, a folder / .zip, a generator callable (with
    ``num_samples``) or an :class:`ImageSource`. ``reference``: a dataset spec, a folder / .zip, or a
    precomputed :class:`FeatureSet`; dataset references are loaded at ``resolution`` (default: the
    generated images' size) and cached on disk, so repeated evaluations only extract the generated side.
    """
    started = time.perf_counter()
    specs = resolve_metrics(metrics, IMAGE)
    groups: dict[str, list[MetricSpec]] = {}
    for spec in sorted(specs, key=lambda spec: spec.extractor != "inception"):  # Inception's first
        groups.setdefault(spec.extractor, []).append(spec)
    request = ExtractorRequest(extractor, weights, device, batch_size, download, cache_dir)
    extractors = {kind: FEATURE_EXTRACTORS[kind](group, request) for kind, group in groups.items()}
    source: ImageSource = as_source(fake, num_samples=num_samples)
    _check_counts_early(specs, source.count, options or MetricOptions())
    # one pass over the generated images, so every feature kind sees the same samples
    fake_sets = extract_features(source, extractors, progress=progress, description="generated")

    values: dict[str, object] = {}
    protocol: dict[str, object] = {}
    for kind, group in groups.items():
        kind_extractor = extractors[kind][0]
        fake_set = fake_sets[kind]
        real_set: FeatureSet | None = None
        if any(spec.needs_real for spec in group):
            if isinstance(reference, FeatureSet):
                real_set = reference
            else:
                size = fake_set.image_size
                real_resolution = resolution or (size[0] if size and size[0] == size[1] else None)
                real_set = reference_features(reference, split=split, resolution=real_resolution,
                                              num_samples=reference_samples, extractor=kind_extractor,
                                              cache_dir=cache_dir, progress=progress, download=download)
            _check_same_extractor(real_set, kind_extractor)
        kind_values, kind_protocol = compute_metrics(group, real_set, fake_set, options)
        values.update(kind_values)
        kind_protocol = {**_base_protocol(kind_extractor, real_set, fake_set), **kind_protocol}
        if kind == "inception":
            protocol.update(kind_protocol)
        else:  # keep the top level for Inception; other feature kinds get their own section
            protocol[kind] = kind_protocol
            for field in ("num_fake", "ganforge_version"):
                protocol.setdefault(field, kind_protocol[field])
    protocol["seconds"] = round(time.perf_counter() - started, 3)
    return {**values, "protocol": protocol}


def evaluate_generator(sample_fn: Callable[[int], torch.Tensor], num_samples: int,
                       metrics: str | Iterable[str] = "auto", reference: str | Path | FeatureSet = "digits5k",
                       **kwargs: Any) -> dict[str, object]:
    """Metrics of ``num_samples`` images drawn from ``sample_fn(n) -> (n, C, H, W)`` in [-1, 1] (or uint8).

    Float samples are quantized with ``ganforge.data.to_uint8`` like saved PNGs. Keyword arguments are
    those of :func:`evaluate_images`. Returns the metric values and a ``protocol`` dict.
    """
    return evaluate_images(generator_source(sample_fn, num_samples), metrics, reference, **kwargs)


def generator_sampler(generator: torch.nn.Module, *, seed: int = 0, device: str | torch.device = "cpu",
                      ) -> Callable[[int], torch.Tensor]:
    """``sample_fn`` for a ganforge generator (``forward(z, labels)``, ``z_dim``, ``num_classes``).

    Deterministic for a given seed: a fresh sampler replays the same latents (and uniformly drawn labels
    for conditional generators), so evaluations at different training steps see the same noise.
    """
    rng = torch.Generator().manual_seed(seed)
    num_classes = int(getattr(generator, "num_classes", 0) or 0)

    @torch.inference_mode()
    def sample(n: int) -> torch.Tensor:
        z = torch.randn(n, latent_size(generator), generator=rng).to(device)
        labels = torch.randint(num_classes, (n,), generator=rng).to(device) if num_classes else None
        was_training = generator.training
        generator.eval()
        try:
            return generator(z, labels).float().cpu()
        finally:
            generator.train(was_training)

    return sample


def _check_counts_early(specs: Sequence[MetricSpec], count: int | None, options: MetricOptions) -> None:
    """Refuse too few samples before minutes of feature extraction, when the count is known."""
    for spec in specs:
        minimum = spec.min_samples(options)
        if count is not None and count < minimum:
            raise GanforgeError(f"metric '{spec.name}' needs at least {minimum} generated samples, got {count}")


def _check_same_extractor(real: FeatureSet, extractor: Extractor) -> None:
    sha, ours = real.protocol.get("weights_sha256"), extractor.protocol()["weights_sha256"]
    if sha and sha != ours:
        raise GanforgeError(f"{real.description} was computed with feature weights {str(sha)[:12]}..., "
                            f"the generated side with {ours[:12]}...; features from different weight files "
                            "are not comparable")
