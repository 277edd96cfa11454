"""The one scoring path of images: :func:`score_images` takes an image source and metric names and returns
the values plus the protocol they followed.

Everything that scores images goes through it: ``ganforge evaluate`` and ``ganforge.evaluate`` (through
:func:`ganforge.metrics.run.score_generator`), ``--eval-every``, ``ganforge fid``, the real-data floor
and sweeps. The result is a flat dict ready for ``metrics.jsonl``: the values of the registered image
metrics (:mod:`ganforge.metrics.specs`) and a ``protocol`` dict (N real, N fake, weights sha256, resize
rule, reference, warnings...). Each feature extractor's part of the protocol goes where its registry
entry says (:mod:`ganforge.metrics.extractors`): the top level (Inception) or a section of its own
(``protocol["dinov2"]``, ``protocol["digits"]``, ``protocol["modes"]``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ganforge import __version__
from ganforge.data.base import IMAGE
from ganforge.errors import GanforgeError
from ganforge.metrics.extractor import (
    DEFAULT_BATCH_SIZE,
    Extractor,
    ExtractorSettings,
    FeatureSet,
    extract_features,
)
from ganforge.metrics.extractors import EXTRACTORS, extractor_order
from ganforge.metrics.reference import load_stats, reference_features
from ganforge.metrics.sources import ImageSource, as_source
from ganforge.metrics.specs import MetricOptions, MetricSpec, resolve_metrics
from ganforge.models.base import latent_size

Reference = str | Path | FeatureSet | None  # a dataset spec, a folder / .zip, a statistics .npz, or features


class _Extractors:
    """The extractors of one scoring, each built (weights found, network loaded) only when first needed."""

    def __init__(self, settings: ExtractorSettings, groups: Mapping[str, Sequence[MetricSpec]]) -> None:
        self.settings = settings
        self.groups = groups
        self.built: dict[str, Extractor] = dict(settings.ready)

    def need_logits(self, name: str) -> bool:
        return any(spec.needs_logits for spec in self.groups[name])

    def __getitem__(self, name: str) -> Extractor:
        if name not in self.built:
            self.built[name] = EXTRACTORS.get(name).build(self.settings, self.need_logits(name))
        elif self.need_logits(name):
            self.built[name].require_logits()
        return self.built[name]


def score_images(images: object, metrics: str | Iterable[str] = "auto", reference: Reference = None, *,
                 num_samples: int | None = None, split: str = "train", resolution: int | None = None,
                 reference_samples: int | None = None, options: MetricOptions | None = None,
                 weights: Mapping[str, str | Path] | None = None, extractors: Mapping[str, Extractor] | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE, device: str = "cpu", cache_dir: Path | None = None,
                 download: bool = True, progress: bool = False, flag: str = "--extractor-weights") -> dict[str, Any]:
    """``metrics`` of ``images`` against ``reference``: the values and a ``protocol`` (see the module doc).

    ``images``: a uint8 tensor, an iterable of uint8 batches, a folder / .zip, a generator callable (with
    ``num_samples``), an :class:`~ganforge.metrics.sources.ImageSource`, or a :class:`FeatureSet` (e.g. a
    statistics file, for the metrics of one extractor). ``reference``: a dataset spec, a folder / .zip, a
    statistics ``.npz`` or a :class:`FeatureSet`; dataset references load at ``resolution`` (default: the
    generated images' size) and their features are cached on disk, so repeated scorings extract only the
    generated side. ``weights`` maps extractor names to weight files (``--extractor-weights NAME=PATH``,
    named ``flag`` in errors); ``extractors`` holds ones already built.
    """
    started = time.perf_counter()
    specs = resolve_metrics(metrics, IMAGE)
    options = options or MetricOptions()
    for spec in specs:
        if spec.extractor not in EXTRACTORS:
            raise GanforgeError(f"image metric '{spec.name}' names no registered feature extractor "
                                f"('{spec.extractor}'); MetricSpec.extractor is one of {', '.join(EXTRACTORS.names())}")
    groups: dict[str, list[MetricSpec]] = {}
    for spec in sorted(specs, key=lambda spec: extractor_order(spec.extractor)):
        groups.setdefault(spec.extractor, []).append(spec)
    built = _Extractors(ExtractorSettings(weights or {}, device, batch_size, download, cache_dir, extractors or {},
                                          flag), groups)
    generated = images if isinstance(images, FeatureSet) else as_source(images, num_samples=num_samples)
    _check_counts_early(specs, None if isinstance(generated, FeatureSet) else generated.count, options)
    if any(spec.needs_real for spec in specs) and reference is None:
        needing = ", ".join(spec.name for spec in specs if spec.needs_real)
        raise GanforgeError(f"{needing} compare with real images: give a reference (dataset, folder or .npz)")
    fake_sets = _generated_features(generated, built, progress)

    values: dict[str, Any] = {}
    protocol: dict[str, Any] = {}
    for name, group in groups.items():
        fake = fake_sets[name]
        real: FeatureSet | None = None
        if any(spec.needs_real for spec in group):
            real = _reference_features(reference, name, built, fake, split=split, resolution=resolution,
                                       num_samples=reference_samples, progress=progress)
            _check_comparable(real, fake, name)
        group_values, group_protocol = _compute(group, real, fake, options)
        values.update(group_values)
        base = built.built[name].protocol() if name in built.built else _file_protocol(real or fake)
        section = {**base, **_counts(real, fake), **group_protocol}
        where = EXTRACTORS.get(name).protocol_section
        if where is None:
            protocol.update(section)
        else:  # one extractor's protocol at the top level; the others in sections of their own
            protocol[where] = section
            for field in ("num_fake", "ganforge_version"):
                protocol.setdefault(field, section[field])
    protocol["seconds"] = round(time.perf_counter() - started, 3)
    return {**values, "protocol": protocol}


def _generated_features(images: FeatureSet | ImageSource, built: _Extractors, progress: bool
                        ) -> dict[str, FeatureSet]:
    if isinstance(images, FeatureSet):
        if len(built.groups) > 1:
            raise GanforgeError(f"{images.description} holds the features of one extractor; score its metrics "
                                "apart from the others (" + ", ".join(built.groups) + ")")
        return {name: images for name in built.groups}
    # one pass over the generated images, so every feature kind sees the same samples
    wanted = {name: (built[name], built.need_logits(name)) for name in built.groups}
    return extract_features(images, wanted, progress=progress, description="generated")


def _reference_features(reference: Reference, name: str, built: _Extractors, fake: FeatureSet, *, split: str,
                        resolution: int | None, num_samples: int | None, progress: bool) -> FeatureSet:
    if isinstance(reference, FeatureSet):
        return reference
    if str(reference).lower().endswith(".npz"):
        if not Path(str(reference)).expanduser().is_file():
            raise GanforgeError(f"statistics file '{reference}' does not exist")
        return load_stats(str(reference))
    assert reference is not None  # score_images refuses a missing reference first
    size = fake.image_size
    real_resolution = resolution or (size[0] if size and size[0] == size[1] else None)
    return reference_features(reference, split=split, resolution=real_resolution, num_samples=num_samples,
                              extractor=built[name], cache_dir=built.settings.cache_dir, progress=progress,
                              download=built.settings.download)


def _file_protocol(fs: FeatureSet) -> dict[str, Any]:
    return {k: v for k, v in fs.protocol.items() if k != "reference_key"}


def _compute(specs: Sequence[MetricSpec], real: FeatureSet | None, fake: FeatureSet,
             options: MetricOptions) -> tuple[dict[str, Any], dict[str, object]]:
    """Run ``specs`` on extracted features: ``(values, protocol)``; warnings land in the protocol."""
    values: dict[str, Any] = {}
    protocol: dict[str, object] = {}
    notes: list[str] = []
    for spec in specs:
        _check_inputs(spec, real, fake, options)
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


def _check_inputs(spec: MetricSpec, real: FeatureSet | None, fake: FeatureSet, options: MetricOptions) -> None:
    minimum = spec.min_samples(options)
    if fake.count < minimum:
        raise GanforgeError(f"metric '{spec.name}' needs at least {minimum} generated samples, got {fake.count}")
    if spec.needs_real:
        assert real is not None  # score_images reads the reference of every metric that needs one
        if spec.needs_real_features and real.features is None:
            raise GanforgeError(f"metric '{spec.name}' needs per-image reference features; "
                                f"{real.description} holds only mean and covariance")
        if real.count and real.count < minimum:
            raise GanforgeError(f"metric '{spec.name}' needs at least {minimum} reference samples, got {real.count}")
    if spec.needs_real_features and fake.features is None:  # they compare real with generated features
        raise GanforgeError(f"metric '{spec.name}' needs per-image features of the generated images; "
                            f"{fake.description} holds only mean and covariance")
    if spec.needs_logits and fake.logits is None:
        raise GanforgeError(f"metric '{spec.name}' needs the 1008-class logits of the generated images")


def _counts(real: FeatureSet | None, fake: FeatureSet) -> dict[str, object]:
    protocol: dict[str, object] = {"num_fake": fake.count, "skipped_fake": len(fake.skipped),
                                   "ganforge_version": __version__}
    if real is not None:
        protocol.update({"num_real": real.count, "skipped_real": len(real.skipped),
                         "reference_cached": real.from_cache})
        key = real.protocol.get("reference_key")
        if isinstance(key, dict):
            for field in ("dataset", "split", "resolution", "num_samples", "path"):
                if field in key:
                    protocol[f"reference_{field}"] = key[field]
    return protocol


def _check_comparable(real: FeatureSet, fake: FeatureSet, name: str) -> None:
    """Both sides must be features of the same extractor, weights and resize rule."""
    for fs in (real, fake):
        made_by = fs.protocol.get("extractor")
        if made_by and made_by != name:
            raise GanforgeError(f"{fs.description} holds '{made_by}' features; these metrics need '{name}' features")
    for field in ("weights_sha256", "resize"):
        ours, theirs = fake.protocol.get(field), real.protocol.get(field)
        if ours and theirs and ours != theirs:
            raise GanforgeError(f"{real.description} and {fake.description} were made with different {field} "
                                f"({str(theirs)[:16]}... vs {str(ours)[:16]}...); their features are not comparable")
    if real.stats.mu.shape != fake.stats.mu.shape:
        raise GanforgeError(f"{real.description} has {real.stats.mu.shape[0]}-d features, {fake.description} "
                            f"{fake.stats.mu.shape[0]}-d; they come from different extractors")


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
