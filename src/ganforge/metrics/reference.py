"""Reference (real-data) features cached on disk, and .npz statistics files.

A reference is extracted once per (dataset, split, resolution, subset, weights sha256, resize rule) and
stored under ``<cache>/metrics/reference/``; later evaluations against the same data only compute the
generated side. Folder and zip references are keyed by a sha256 of their file names and bytes
(:func:`ganforge.metrics.sources.content_fingerprint`), so any change of content invalidates the entry,
even one that keeps sizes and modification times.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from ganforge import __version__
from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write
from ganforge.metrics.extractor import (
    DEFAULT_BATCH_SIZE,
    Extractor,
    FeatureSet,
    extract_features,
    get_extractor,
)
from ganforge.metrics.frechet import COVARIANCE_RULE, GaussianStats, feature_statistics
from ganforge.metrics.sources import dataset_source, files_source, reference_identity
from ganforge.metrics.weights import weights_dir

CACHE_VERSION = 2
KEY_FIELDS = ("extractor", "weights_sha256", "resize", "normalization", "feature_layer")  # of the extractor protocol


def reference_cache_dir(cache_dir: Path | None = None) -> Path:
    return weights_dir(cache_dir) / "reference"


def cache_key(identity: dict[str, Any], extractor_protocol: dict[str, Any]) -> dict[str, Any]:
    """Everything that changes reference features; its hash names the cache file."""
    return {**identity, **{field: extractor_protocol.get(field) for field in KEY_FIELDS},
            "cache_version": CACHE_VERSION}


def cache_path(key: dict[str, Any], cache_dir: Path | None = None) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    label = key.get("dataset") or Path(str(key.get("path", "images"))).name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", str(label))[:40].strip("_") or "reference"
    return reference_cache_dir(cache_dir) / f"{slug}-{key.get('split', 'files')}-{digest}.npz"


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle, so numpy does not append ".npz" to the temp name
            # mypy matches **arrays against savez's allow_pickle flag too; the keys are array names
            np.savez(handle, **arrays)  # type: ignore[arg-type]

    atomic_write(path, write)


def _save_reference(path: Path, key: dict[str, Any], fs: FeatureSet) -> None:
    assert fs.features is not None  # extracted features, never a statistics file
    stats = fs.stats
    _atomic_savez(path, features=fs.features.astype(np.float32), mu=stats.mu, sigma=stats.sigma,
                  count=np.int64(fs.count), skipped=np.int64(len(fs.skipped)),
                  image_size=np.array(fs.image_size or (0, 0), dtype=np.int64),
                  key=np.array(json.dumps(key, sort_keys=True)), protocol=np.array(json.dumps(fs.protocol)))


def _load_reference(path: Path, key: dict[str, Any], description: str) -> FeatureSet | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if json.loads(str(data["key"])) != key:
                return None
            height, width = (int(s) for s in data["image_size"])
            features = data["features"]
            return FeatureSet(
                features, int(data["count"]), description, protocol=json.loads(str(data["protocol"])),
                skipped=["(skipped when the reference was cached)"] * int(data["skipped"]),
                image_size=(height, width) if height or width else None, from_cache=True,
                precomputed_stats=_stats_with_factor(data["mu"], data["sigma"], features))
    except (OSError, KeyError, ValueError):  # unreadable or older-format entry: recompute it
        return None


def _stats_with_factor(mu: np.ndarray, sigma: np.ndarray, features: np.ndarray | None) -> GaussianStats:
    """Saved statistics plus, for N <= d, the low-rank factor that keeps FID fast (see GaussianStats)."""
    count = len(features) if features is not None else 0
    if features is not None and 1 < count <= len(mu):
        return GaussianStats(mu, sigma, count, feature_statistics(features, warn=False).factor)
    return GaussianStats(mu, sigma, count)


def reference_features(reference: str | Path, *, split: str = "train", resolution: int | None = None,
                       num_samples: int | None = None, subset_seed: int = 0,
                       extractor: Extractor | None = None, weights: str | Path | None = None,
                       cache_dir: Path | None = None, batch_size: int | None = None, progress: bool = True,
                       refresh: bool = False, download: bool = True) -> FeatureSet:
    """Features + statistics of real images, from the cache when already computed.

    ``reference`` is a ``ganforge.data`` dataset spec (``digits5k``), or a folder / .zip of images.
    ``extractor``: any object with the ``Extractor`` interface (:mod:`ganforge.metrics.extractors` builds
    them); without one, the FID Inception extractor of ``weights``.
    ``resolution`` is the side length the dataset loader resizes to before the 299 pipeline (use the
    generator's resolution); ``num_samples`` a seeded random subset. ``refresh`` recomputes.
    The returned :class:`FeatureSet` has ``from_cache`` True when nothing was recomputed.
    """
    extractor = extractor or get_extractor(weights, download=download, cache_dir=cache_dir,
                                           batch_size=batch_size or DEFAULT_BATCH_SIZE)
    path_like = Path(str(reference)).expanduser()
    if path_like.exists():
        source = files_source(path_like)
        if num_samples is not None:
            raise GanforgeError("num_samples applies to dataset references, not to folders or zips")
        identity = source.identity
        assert identity is not None  # files_source always records one
    else:
        identity = reference_identity(str(reference), resolution=resolution, split=split,
                                      num_samples=num_samples, subset_seed=subset_seed)
        source = None
    key = cache_key(identity, extractor.protocol())
    path = cache_path(key, cache_dir)
    description = f"reference {reference}" + (f" [{split}]" if source is None else "")
    if not refresh and path.is_file():
        cached = _load_reference(path, key, description)
        if cached is not None:
            return cached
    if source is None:
        source = dataset_source(str(reference), resolution=resolution, split=split, num_samples=num_samples,
                                subset_seed=subset_seed, cache_dir=cache_dir, download=download)
    features = extract_features(source, {"reference": (extractor, False)}, progress=progress,
                                description=description)["reference"]
    features.protocol = {**features.protocol, "reference_key": key}
    _save_reference(path, key, features)
    return features


# ------------------------------------------------------------------------------------ .npz statistics

def stats_fields(fs: FeatureSet, **extra: object) -> dict[str, np.ndarray]:
    """The arrays of a statistics file: mu, sigma, N (pytorch-fid reads mu and sigma) + protocol fields."""
    stats = fs.stats
    protocol = {k: v for k, v in fs.protocol.items() if k != "reference_key"}
    fields = {"mu": stats.mu, "sigma": stats.sigma, "N": np.int64(stats.count),
              "covariance": np.array(COVARIANCE_RULE),
              "ganforge_version": np.array(__version__), "skipped": np.int64(len(fs.skipped))}
    for name, value in {**protocol, **extra}.items():
        fields[name] = np.array("" if value is None else str(value))
    return fields


def save_stats(path: Path, fs: FeatureSet, *, include_features: bool = False, **extra: object) -> None:
    """Write a statistics .npz atomically (callers decide about overwriting)."""
    fields = stats_fields(fs, **extra)
    if include_features:
        if fs.features is None:
            raise GanforgeError(f"{fs.description} holds only mean and covariance; it has no features to save")
        fields["features"] = fs.features.astype(np.float32)
    _atomic_savez(Path(path), **fields)


def load_stats(path: str | Path) -> FeatureSet:
    """Read a statistics .npz (ganforge's, or any file with ``mu`` and ``sigma`` such as pytorch-fid's)."""
    path = Path(path).expanduser()
    try:
        with np.load(path, allow_pickle=False) as data:
            if "mu" not in data or "sigma" not in data:
                raise GanforgeError(f"'{path}' has no 'mu'/'sigma' arrays; not a statistics file")
            mu = np.asarray(data["mu"], dtype=np.float64)
            sigma = np.asarray(data["sigma"], dtype=np.float64)
            count = int(data["N"]) if "N" in data else 0
            features = np.asarray(data["features"]) if "features" in data else None
            protocol = {k: str(data[k]) for k in data.files
                        if k not in ("mu", "sigma", "N", "features") and data[k].ndim == 0}
    except (OSError, ValueError) as exc:
        raise GanforgeError(f"cannot read statistics file '{path}': {exc}") from None
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise GanforgeError(f"'{path}': mu {mu.shape} and sigma {sigma.shape} do not fit together")
    stats = _stats_with_factor(mu, sigma, features) if features is not None else GaussianStats(mu, sigma, count)
    return FeatureSet(features, count or stats.count, f"statistics {path}", protocol=protocol,
                      precomputed_stats=stats)
