"""The real-data floor: what real images of a dataset score under a comparison's own protocol.

At the sample counts of a CPU study no generator scores FID 0 or precision 1: the estimators themselves
are biased at small N. The floor says where "as good as the data" sits under that protocol: N images
drawn with a fixed seed from the training set, measured exactly like a run's samples
(:func:`ganforge.metrics.score_images`, the one scoring path: the same metrics, reference and reference count). When the
reference is the whole training set, the drawn images are part of it, so the floor is the score of a
generator that reproduces training images: the best any run of that protocol can reach.

Floors are cached in ``floor.json`` of a sweep's folder, each under its :class:`FloorRequest` (dataset,
resolution, N, draw seed, metrics, reference, reference count): every (dataset, protocol) is measured
once, and a floor measured under another protocol is never taken for the current one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ganforge.data import load_dataset
from ganforge.fileio import atomic_write_text
from ganforge.metrics.evaluate import score_images
from ganforge.metrics.extractor import DEFAULT_BATCH_SIZE
from ganforge.metrics.specs import value_keys

if TYPE_CHECKING:
    import torch

FLOOR_FILE = "floor.json"
FLOOR_FORMAT = "ganforge-floor"
DRAW_SEED = 123  # which real images: fixed, so every launch and every machine scores the same ones


@dataclass(frozen=True)
class FloorRequest:
    """Which real images are scored, and how: everything a floor's values depend on."""

    data: str  # dataset spec the images are drawn from (its training split)
    samples: int  # images drawn: the comparison's N fake
    metrics: tuple[str, ...]
    resolution: int | None = None  # as the runs load the data; None = the dataset's own
    reference: str | None = None  # None: ``data`` itself
    reference_samples: int | None = None  # None: the whole reference set
    draw_seed: int = DRAW_SEED
    cache_dir: str | None = field(default=None, compare=False)  # where the data and features are cached

    def key(self) -> dict[str, Any]:
        """The request as floor.json and sweep.json record it (the cache folder is not part of it)."""
        document = asdict(self)
        document.pop("cache_dir")
        document["metrics"] = list(self.metrics)
        return document

    @classmethod
    def from_key(cls, document: Any) -> FloorRequest | None:
        """The request recorded in a file; None for anything else (a damaged or foreign entry)."""
        if not isinstance(document, dict):
            return None
        try:
            request = cls(**{**document, "metrics": tuple(document.get("metrics") or ())})
        except TypeError:
            return None
        return request if request.key() == document else None


@dataclass(frozen=True)
class Floor:
    """The values of one request's real images and the protocol they were measured under."""

    request: FloorRequest
    count: int  # images scored: the request's samples, or the whole set when it is smaller
    values: dict[str, float | None]
    protocol: dict[str, Any]

    @property
    def label(self) -> str:
        return f"real data ({self.count} images)"

    @property
    def protocols(self) -> dict[str, dict[str, Any]]:
        """value key -> protocol, as a run's summary holds them (one record measured them all)."""
        return {key: self.protocol for key in self.values}

    def to_dict(self) -> dict[str, Any]:
        return {"request": self.request.key(), "count": self.count, "values": self.values,
                "protocol": self.protocol}


def finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def parse_floor(document: Any) -> Floor | None:
    if not isinstance(document, dict):
        return None
    request = FloorRequest.from_key(document.get("request"))
    values, protocol, count = document.get("values"), document.get("protocol"), document.get("count")
    if request is None or not isinstance(values, dict) or not isinstance(protocol, dict) or not isinstance(count, int):
        return None
    return Floor(request, count, {key: finite(values[key]) for key in value_keys() if key in values}, protocol)


def read_floors(folder: Path) -> list[Floor]:
    """Every well-formed floor in ``folder``/floor.json; [] when there is none (or it is unreadable)."""
    try:
        document = json.loads((Path(folder) / FLOOR_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return []
    entries = document.get("floors") if isinstance(document, dict) else None
    floors = [parse_floor(entry) for entry in entries] if isinstance(entries, list) else []
    return [floor for floor in floors if floor is not None]


def write_floors(folder: Path, floors: Sequence[Floor]) -> None:
    document = {"format": FLOOR_FORMAT, "version": 1, "floors": [floor.to_dict() for floor in floors]}
    atomic_write_text(Path(folder) / FLOOR_FILE, json.dumps(document, indent=2) + "\n")


def cached_floors(folder: Path, requests: Sequence[FloorRequest]) -> list[Floor]:
    """The floors of ``requests`` that floor.json holds, in request order; other protocols' are left out."""
    found = {floor.request: floor for floor in read_floors(folder)}
    return [found[request] for request in requests if request in found]


def real_images(request: FloorRequest) -> torch.Tensor:
    """The request's real images: a seeded draw of ``samples`` from the training set (uint8 NCHW)."""
    dataset = load_dataset(request.data, cache_dir=Path(request.cache_dir) if request.cache_dir else None,
                           resolution=request.resolution)
    order = torch.randperm(len(dataset.data), generator=torch.Generator().manual_seed(request.draw_seed))
    return dataset.data[order[:request.samples]]


def measure_floor(request: FloorRequest, *, device: str = "cpu", batch_size: int | None = None) -> Floor:
    """Score the request's real images like a run's samples (:func:`ganforge.metrics.score_images`)."""
    images = real_images(request)
    result = score_images(images, list(request.metrics), request.reference or request.data,
                             reference_samples=request.reference_samples, batch_size=batch_size or DEFAULT_BATCH_SIZE,
                             device=device, cache_dir=Path(request.cache_dir) if request.cache_dir else None)
    protocol = result["protocol"]
    assert isinstance(protocol, dict)
    values = {key: finite(result[key]) for key in value_keys() if key in result}
    return Floor(request, len(images), values, dict(protocol))


def ensure_floors(folder: Path, requests: Sequence[FloorRequest],
                  measure: Callable[[FloorRequest], Floor]) -> tuple[list[Floor], list[Floor]]:
    """The floors of ``requests``: cached ones read, the others measured and added to floor.json (floors
    of other protocols stay there for when the comparison returns to them). Returns (all, measured)."""
    kept = read_floors(folder)
    known = {floor.request for floor in kept}
    measured: list[Floor] = []
    for request in requests:
        if request not in known:
            measured.append(measure(request))
            write_floors(folder, [*kept, *measured])  # one written floor survives a later failure
    return cached_floors(folder, requests), measured


__all__ = ["DRAW_SEED", "FLOOR_FILE", "Floor", "FloorRequest", "cached_floors", "ensure_floors", "measure_floor",
           "read_floors", "real_images", "write_floors"]
