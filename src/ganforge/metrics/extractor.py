"""Feature extraction, whatever the network: the entry type of the extractor registry, one batched pass over
an image source feeding every extractor (:func:`extract_features`), and the FID Inception extractor.

An :class:`ExtractorSpec` carries every fact about one feature extractor (input size and resampling,
normalisation, feature dimension, how its weights are found, where its protocol goes in a record);
:mod:`ganforge.metrics.extractors` registers them and the metrics name theirs (``MetricSpec.extractor``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.frechet import GaussianStats, feature_statistics
from ganforge.metrics.inception import fuse_batchnorm
from ganforge.metrics.preprocess import (
    INCEPTION_SIZE,
    NORMALIZATION,
    QUANTIZATION,
    RESIZE_RULE,
    inception_input,
)
from ganforge.metrics.sources import Batch, ImageSource, as_source
from ganforge.metrics.weights import WEIGHTS_ENV, build_inception, load_weights, resolve_weights
from ganforge.progress import StartEstimate, progress_bar, silent

DEFAULT_BATCH_SIZE = 32
EXTRACTOR_NAME = "FID Inception (TF 2015-12-05), pool3 2048-d"


@dataclass
class FeatureSet:
    """Features of one image set, or only their Gaussian statistics (e.g. from a saved .npz).

    ``features`` (N, 2048) float32 pool3 features; ``logits`` (N, 1008) unbiased logits when extracted;
    ``protocol`` says how they were made (weights sha256, resize rule...); ``image_size`` is the (H, W)
    of the first image, to match a reference's resolution to generated images.
    """

    features: np.ndarray | None
    count: int
    description: str
    protocol: dict[str, Any] = field(default_factory=dict)
    logits: np.ndarray | None = None
    skipped: list[str] = field(default_factory=list)
    image_size: tuple[int, int] | None = None
    from_cache: bool = False
    precomputed_stats: GaussianStats | None = None

    @cached_property
    def stats(self) -> GaussianStats:
        """Mean and covariance (float64, N-1)."""
        if self.precomputed_stats is not None:
            return self.precomputed_stats
        if self.features is None:
            raise GanforgeError(f"{self.description} has neither features nor statistics")
        if len(self.features) < 2:
            raise GanforgeError(f"{self.description} has {len(self.features)} image; Fréchet statistics need at "
                                "least 2 (and more than 2048 for a full-rank covariance); add images")
        return feature_statistics(self.features, warn=False)  # metrics warn with context


class FeatureExtractor:
    """The FID Inception network with its input pipeline, ready to turn uint8 images into features.

    Loads weights via :func:`ganforge.metrics.weights.resolve_weights` (explicit path, then
    ``$GANFORGE_INCEPTION_WEIGHTS``, then the cache folder, then a download). BatchNorm is folded into the
    convolutions and the network runs in channels_last under ``torch.inference_mode``.
    """

    def __init__(self, weights: str | Path | None = None, *, need_logits: bool = False, device: str = "cpu",
                 batch_size: int = DEFAULT_BATCH_SIZE, download: bool = True,
                 cache_dir: Path | None = None) -> None:
        path = resolve_weights(weights, need_logits=need_logits, download=download, cache_dir=cache_dir)
        loaded = load_weights(path)
        self.weights_path = loaded.path
        self.weights_sha256 = loaded.sha256
        self.weights_format = loaded.source_format
        self.has_logits = loaded.has_logits
        self.device = torch.device(device)
        self.batch_size = batch_size
        # Module.to accepts memory_format (its docstring lists the call), but torch's overloads omit it
        self.model = fuse_batchnorm(build_inception(loaded)).to(  # type: ignore[call-overload]
            self.device, memory_format=torch.channels_last)

    def protocol(self) -> dict[str, Any]:
        """How features are made: the fields every report and cache key carries."""
        return {"extractor": "inception", "feature_extractor": EXTRACTOR_NAME, "weights_file": self.weights_path.name,
                "weights_sha256": self.weights_sha256, "resize": RESIZE_RULE, "quantization": QUANTIZATION,
                "normalization": NORMALIZATION, "feature_layer": "pool3"}

    def require_logits(self) -> None:
        if not self.has_logits:
            raise GanforgeError(
                f"the Inception Score needs the 1008-class output layer, which '{self.weights_path.name}' "
                "(an NVIDIA feature trunk) lacks; use pytorch-fid's pt_inception-2015-12-05-6726825d.pth "
                "(downloaded automatically when GitHub is reachable) or NVIDIA's full inception-2015-12-05.pt "
                "via --inception-weights")

    @torch.inference_mode()
    def batch_features(self, images: Batch, with_logits: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """pool3 features (and unbiased logits) of one batch: a uint8 tensor or a list of (C, H, W) images."""
        if with_logits:
            self.require_logits()
        if isinstance(images, list):
            # Mixed sizes: resize each image to 299 first, then run the network on the whole batch.
            x = torch.cat([inception_input(im.unsqueeze(0)) for im in images])
            x = x.contiguous(memory_format=torch.channels_last)
        else:
            x = inception_input(images)
        features, logits = self.model(x.to(self.device), with_logits=with_logits)
        return features.float().cpu(), (logits.float().cpu() if logits is not None else None)

    def extract(self, images: object, *, num_samples: int | None = None, with_logits: bool = False,
                progress: bool = True, description: str | None = None) -> FeatureSet:
        """Features of every image of ``images`` (anything :func:`ganforge.metrics.sources.as_source` takes)."""
        source = as_source(images, num_samples=num_samples)
        return extract_features(source, {"features": (self, with_logits)}, progress=progress,
                                description=description)["features"]


class Extractor(Protocol):
    """What :func:`extract_features` and the reference cache need from a feature extractor."""

    batch_size: int
    weights_path: Path

    def protocol(self) -> dict[str, Any]: ...

    def require_logits(self) -> None: ...

    def batch_features(self, images: Batch, with_logits: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]: ...


def extract_features(source: ImageSource, extractors: Mapping[str, tuple[Extractor, bool]], *,
                     progress: bool = True, description: str | None = None) -> dict[str, FeatureSet]:
    """One pass over ``source`` feeding every batch to each ``name -> (extractor, with_logits)``.

    A single pass matters for generator sources: every extractor sees the same samples, drawn once.
    """
    for extractor, with_logits in extractors.values():
        if with_logits:
            extractor.require_logits()
    feats: dict[str, list[torch.Tensor]] = {name: [] for name in extractors}
    logits: dict[str, list[torch.Tensor]] = {name: [] for name in extractors}
    image_size: tuple[int, int] | None = None
    label = description or source.description
    batch_size = min(extractor.batch_size for extractor, _ in extractors.values())
    desc = f"features: {label}"[:70]
    estimate = StartEstimate(source.count, desc, "img") if progress and source.count and not silent() else None
    with progress_bar(total=source.count, unit="img", desc=desc, enabled=progress, leave=False) as bar:
        for batch in source.batches(batch_size):
            if len(batch) == 0:
                continue
            if image_size is None:
                height, width = batch[0].shape[-2:]
                image_size = (int(height), int(width))
            for name, (extractor, with_logits) in extractors.items():
                f, lg = extractor.batch_features(batch, with_logits=with_logits)
                feats[name].append(f)
                if lg is not None:
                    logits[name].append(lg)
            bar.update(len(batch))
            note = estimate.after_batch(len(batch)) if estimate else None
            if note:  # before minutes of work, say how many: `ganforge evaluate` defaults to 10,000 samples
                sys.stderr.write(note + "\n")
    if not image_size:
        raise GanforgeError(f"no readable images in {source.description}")
    return {name: FeatureSet(torch.cat(feats[name]).numpy(), sum(len(f) for f in feats[name]), label,
                             protocol=extractor.protocol(),
                             logits=torch.cat(logits[name]).numpy() if logits[name] else None,
                             skipped=list(source.skipped), image_size=image_size)
            for name, (extractor, _) in extractors.items()}


@dataclass(frozen=True)
class ExtractorSettings:
    """How extractors are built for one scoring: weight files by extractor name, device, batch size, cache.

    ``ready`` holds extractors already built (by registry name), used as they are. ``flag`` is the option
    that gives ``weights``, named in the errors about them.
    """

    weights: Mapping[str, str | Path] = field(default_factory=dict)
    device: str = "cpu"
    batch_size: int = DEFAULT_BATCH_SIZE
    download: bool = True
    cache_dir: Path | None = None
    ready: Mapping[str, Extractor] = field(default_factory=dict)
    flag: str = "--extractor-weights"

    def weights_for(self, name: str) -> Path | None:
        given = self.weights.get(name)
        return Path(given).expanduser() if given else None


@dataclass(frozen=True)
class ExtractorSpec:
    """Every fact about one feature extractor; consumers (scoring, the reference cache, --help) read them here."""

    name: str
    description: str
    input_size: int  # side length the network sees
    resize: str  # the resampling rule to input_size (part of every cache key and report)
    normalization: str
    feature_dim: int
    feature_layer: str
    weights_help: str  # how to obtain and give its weight file
    build: Callable[[ExtractorSettings, bool], Extractor]  # (settings, need_logits) -> a ready extractor
    find_weights: Callable[[ExtractorSettings, bool], object] = field(default=lambda settings, need_logits: None)
    protocol_section: str | None = None  # where its protocol lands in a record: None = the top level
    env: str | None = None  # the environment variable naming its weight file; None: the user gives none


Built = TypeVar("Built")


def built_once(built: dict[tuple[str, str], Built], path: Path, device: str, build: Callable[[], Built]) -> Built:
    """``build()`` once per (weight file, device), and again when the file has gone away."""
    key = (str(path.resolve()), str(torch.device(device)))
    if key not in built or not path.is_file():
        built[key] = build()
    return built[key]


_INCEPTIONS: dict[tuple[str, str], FeatureExtractor] = {}


def get_extractor(weights: str | Path | None = None, *, need_logits: bool = False, device: str = "cpu",
                  batch_size: int = DEFAULT_BATCH_SIZE, download: bool = True,
                  cache_dir: Path | None = None) -> FeatureExtractor:
    """A :class:`FeatureExtractor`, built once per (weight file, device) and reused (e.g. every eval step)."""
    path = resolve_weights(weights, need_logits=need_logits, download=download, cache_dir=cache_dir)
    extractor = built_once(_INCEPTIONS, path, device, lambda: FeatureExtractor(path, device=device))
    extractor.batch_size = batch_size
    return extractor


def _inception(settings: ExtractorSettings, need_logits: bool) -> Extractor:
    extractor = get_extractor(settings.weights_for("inception"), need_logits=need_logits, device=settings.device,
                              batch_size=settings.batch_size, download=settings.download,
                              cache_dir=settings.cache_dir)
    if need_logits:
        extractor.require_logits()
    return extractor


def _find_inception(settings: ExtractorSettings, need_logits: bool) -> Path:
    return resolve_weights(settings.weights_for("inception"), need_logits=need_logits, download=settings.download,
                           cache_dir=settings.cache_dir)


INCEPTION = ExtractorSpec(
    "inception", EXTRACTOR_NAME, INCEPTION_SIZE, RESIZE_RULE, NORMALIZATION, 2048, "pool3",
    "pytorch-fid's pt_inception-2015-12-05-6726825d.pth (downloaded when reachable) or NVIDIA's TorchScript", _inception, _find_inception, env=WEIGHTS_ENV)


__all__ = ["DEFAULT_BATCH_SIZE", "INCEPTION", "ExtractorSettings", "ExtractorSpec", "FeatureExtractor", "FeatureSet",
           "INCEPTION_SIZE", "built_once", "get_extractor"]
