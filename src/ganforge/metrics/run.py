"""Scoring a generator with registered metrics: what ``ganforge evaluate``, sweeps and ``--eval-every`` call.

:func:`score_generator` samples a generator and measures the metrics of its data kind: images through the
one image scoring path (:func:`ganforge.metrics.evaluate.score_images`), points as they are against the
training mixture. :func:`evaluate_run` does it for a saved run folder and returns the record ``ganforge
evaluate`` appends to metrics.jsonl.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ganforge.checkpoints import run_folder_of, warn_if_live
from ganforge.data import IMAGE, POINTS, dataset_kind
from ganforge.devices import resolve_device
from ganforge.errors import GanforgeError
from ganforge.fileio import append_jsonl
from ganforge.loader import load_generator
from ganforge.metrics.evaluate import generator_sampler, score_images
from ganforge.metrics.extractor import DEFAULT_BATCH_SIZE
from ganforge.metrics.sources import generator_source
from ganforge.metrics.specs import MetricOptions, MetricSpec, protocol_samples, resolve_metrics
from ganforge.metrics.toy2d import sample_points
from ganforge.runfolder import RunFolder

if TYPE_CHECKING:
    from ganforge.checkpoints import CheckpointChoice

DEFAULT_SAMPLES = 10_000  # generated samples when neither the caller nor the metrics' protocol says


@dataclass(frozen=True)
class ScoreRequest:
    """How to measure: everything but the generator and the metrics."""

    data: str  # the training data (--data value): the default reference
    num_samples: int
    reference: str | Path | None = None  # images: dataset, folder/zip or .npz statistics; None = ``data``
    reference_samples: int | None = None
    resolution: int | None = None
    seed: int = 0
    device: str | torch.device = "cpu"
    cache_dir: Path | None = None
    weights: Mapping[str, str | Path] = field(default_factory=dict)  # extractor name -> weight file
    batch_size: int = DEFAULT_BATCH_SIZE
    progress: bool = False


def _score_images(generator: torch.nn.Module, chosen: Sequence[MetricSpec], request: ScoreRequest) -> dict[str, Any]:
    images = generator_source(generator_sampler(generator, seed=request.seed, device=request.device),
                              request.num_samples)
    return score_images(images, [spec.name for spec in chosen], request.reference or request.data,
                        resolution=request.resolution, reference_samples=request.reference_samples,
                        weights=request.weights, batch_size=request.batch_size, device=str(request.device),
                        cache_dir=request.cache_dir, progress=request.progress)


def _score_points(generator: torch.nn.Module, chosen: Sequence[MetricSpec], request: ScoreRequest) -> dict[str, Any]:
    started = time.perf_counter()
    points = sample_points(generator, request.num_samples, seed=request.seed, device=request.device,
                           num_classes=int(getattr(generator, "num_classes", 0) or 0))
    values: dict[str, Any] = {}
    protocol: dict[str, object] = {"num_fake": request.num_samples}
    for spec in chosen:  # against the training mixture itself: --reference is for images
        spec_values, spec_protocol = spec.compute(request.data, points, MetricOptions())
        values.update(spec_values)
        protocol.update({**spec.protocol, **spec_protocol})
    protocol["seconds"] = round(time.perf_counter() - started, 3)
    return {**values, "protocol": protocol}


# data kind -> how its metrics are measured on a generator
SCORERS: dict[str, Callable[[torch.nn.Module, Sequence[MetricSpec], ScoreRequest], dict[str, Any]]] = {
    IMAGE: _score_images,
    POINTS: _score_points,
}


def score_generator(generator: torch.nn.Module, metrics: str | Iterable[str] = "auto", *, data: str,
                    kind: str | None = None, num_samples: int | None = None, default_samples: int = DEFAULT_SAMPLES,
                    option: str = "--metrics", **request: Any) -> dict[str, Any]:
    """``metrics`` of ``generator``, trained on ``data``: the values plus a ``protocol`` dict.

    ``kind`` defaults to the data's. Samples: ``num_samples``, else the count the metrics' protocol
    prescribes, else ``default_samples``. Other keywords are :class:`ScoreRequest` fields (reference,
    reference_samples, resolution, seed, device, cache_dir, weights, batch_size, progress).
    """
    kind = kind or dataset_kind(data)
    chosen = resolve_metrics(metrics, kind, option=option, data=data)
    num = num_samples if num_samples is not None else protocol_samples(chosen) or default_samples
    if num < 1:
        raise GanforgeError(f"the number of samples must be a positive whole number, got {num}")
    return SCORERS[kind](generator, chosen, ScoreRequest(data=data, num_samples=num, **request))


def evaluate_run(run_dir: Path | str, metrics: str | Iterable[str] = "auto", *, num_samples: int | None = None,
                 reference: str | Path | None = None, reference_samples: int | None = None,
                 device: str = "auto", cache_dir: Path | None = None, seed: int = 0,
                 weights: Mapping[str, str | Path] | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 progress: bool = False, append: bool = False, checkpoint: CheckpointChoice | None = None) -> dict[str, Any]:
    """Score the generator saved in ``run_dir`` (its EMA copy when trained so) against its training data
    or ``reference``; returns the metrics.jsonl record, appended to the run's metrics.jsonl if ``append``.

    ``run_dir`` may also be a checkpoint .pt of the run, and ``checkpoint`` picks one (``--step`` /
    ``--checkpoint``, :mod:`ganforge.checkpoints`). ``cache_dir`` defaults to the run's own; ``device`` is
    auto, cpu or cuda.
    """
    torch_device = resolve_device(device)

    generator, info = load_generator(Path(run_dir), checkpoint, device=torch_device)
    warn_if_live(run_folder_of(Path(run_dir)), info)
    dataset = str(info.meta.get("dataset", ""))
    config = info.meta.get("config") or {}
    if cache_dir is None and config.get("cache_dir"):
        cache_dir = Path(config["cache_dir"])
    fields = score_generator(generator, metrics, data=dataset, kind=info.kind, num_samples=num_samples,
                             reference=reference, reference_samples=reference_samples,
                             resolution=info.spec.resolution or None, seed=seed, device=torch_device,
                             cache_dir=cache_dir, weights=weights or {}, batch_size=batch_size, progress=progress)
    record = {"source": "evaluate", "kind": info.kind, "dataset": dataset, "step": info.meta.get("step"),
              "ema": bool(info.meta.get("ema")), "seed": seed, **fields, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if info.meta.get("checkpoint"):
        record["checkpoint"] = info.meta["checkpoint"]
    if append:
        append_jsonl(RunFolder(run_folder_of(Path(run_dir))).metrics, record)
    return record
