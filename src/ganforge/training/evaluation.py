"""Metrics during training: FID (or any registered metric) every K steps, a curve, the best checkpoint.

What is measured, how it is plotted and which value picks ``checkpoints/best.pt`` come from the metric
registry (:mod:`ganforge.metrics.specs`): ``auto`` is FID on images and the PacGAN scores (modes, high
quality, reverse KL of 2,500 samples) on the 2-D mixtures, which keep no best checkpoint: no single one
of those numbers says which generator is better. Scoring is :func:`ganforge.metrics.score_generator`,
the same call ``ganforge evaluate`` makes.

The sampled latents are the same at every evaluation (a fresh seeded sampler each time), so the curve
shows the generator changing, not the noise. The reference side uses as many images as the generated
side unless told otherwise (FID depends on N: equal N on both sides is the comparable choice) and is
cached on disk, so each evaluation after the first only extracts the generated images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.pyplot as plt

from ganforge.data import dataset_kind
from ganforge.fileio import append_jsonl, atomic_path, read_jsonl
from ganforge.metrics.extractor import ExtractorSettings
from ganforge.metrics.extractors import find_weights
from ganforge.metrics.run import score_generator
from ganforge.metrics.specs import checkpoint_value, find_value, resolve_metrics
from ganforge.runfolder import RunFolder

if TYPE_CHECKING:
    from ganforge.training.run import TrainingRun
    from ganforge.training.update import Trainer


@dataclass(frozen=True)
class EvalSettings:
    every: int
    num_samples: int
    metrics: str = "auto"  # the metric registry's default for the data (fid for images, toy2d for points)
    reference: str | None = None  # None: the training dataset
    reference_samples: int | None = None  # None: as many as num_samples
    seed: int = 0
    # weight files by extractor (--extractor-weights, --inception-weights); an extractor not named finds its
    # own (the cache, a download, or its environment variable such as $GANFORGE_DINOV2_WEIGHTS)
    weights: dict[str, str] = field(default_factory=dict)


def plot_metric_curve(records: list[dict[str, Any]], metric: str, out: Path) -> bool:
    """``metric`` against step and against wall time; False when there is nothing to plot."""
    points = [(r["step"], r.get("train_seconds", 0.0), r[metric]) for r in records
              if r.get("source") == "training" and r.get(metric) is not None]
    if not points:
        return False

    matplotlib.use("Agg")

    steps, seconds, values = zip(*points, strict=True)
    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    by_step.plot(steps, values, marker="o", lw=1.2)
    by_step.set_xlabel("step")
    found = find_value(metric)
    label = found[1].label if found else metric
    by_step.set_ylabel(label)
    by_time.plot([s / 60 for s in seconds], values, marker="o", lw=1.2, color="tab:orange")
    by_time.set_xlabel("wall time (min)")
    protocol = records[-1].get("protocol", {})
    n, unit = protocol.get("num_fake"), protocol.get("unit", "generated images")
    fig.suptitle(f"{label} during training ({n} {unit} per evaluation)")
    for ax in (by_step, by_time):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return True


class MetricCallback:
    """A training Callback: evaluate, log to history/TensorBoard/metrics.jsonl, keep the best checkpoint."""

    def __init__(self, settings: EvalSettings, run: TrainingRun) -> None:
        self.settings = settings
        self.run = run  # the TrainingRun: paths, elapsed time, best-checkpoint writer
        self.paths: RunFolder = run.paths
        self.data = run.config.data
        self.specs = resolve_metrics(settings.metrics, dataset_kind(self.data), option="--eval-metrics",
                                     data=self.data)
        self.columns = tuple(key for spec in self.specs for key in spec.keys)
        self.cache_dir = Path(run.config.cache_dir) if run.config.cache_dir else None
        self.best_value = checkpoint_value(self.specs)  # None: no best checkpoint
        self._check_weights()
        self.best: float | None = None
        # On resume, the best so far is the best among evaluations up to the checkpoint we continue from.
        for record in read_jsonl(self.paths.metrics):
            if record.get("source") == "training" and record.get("step", 0) <= run.trainer.step:
                self.keep_if_best(record)

    def _check_weights(self) -> None:
        """Find every feature extractor's weights now (downloading them if need be), not after the first K steps."""
        settings = ExtractorSettings(self.weights, cache_dir=self.cache_dir)
        for spec in self.specs:
            if spec.extractor:
                find_weights([spec.extractor], settings, need_logits=spec.needs_logits)

    @property
    def weights(self) -> dict[str, str]:
        """Weight files by extractor, as the config names them."""
        return self.settings.weights

    def keep_if_best(self, values: dict[str, Any]) -> bool:
        """Remember ``values`` as the best so far when its checkpoint value beats the best; whether it did."""
        value = values.get(self.best_value.key) if self.best_value else None
        if value is None or self.best_value is None:
            return False
        if self.best is not None and not self.best_value.better_than(value, self.best):
            return False
        self.best = value
        return True

    @property
    def reference_samples(self) -> int | None:
        """Real images scored: as many as the samples from a dataset; every image of a folder or zip."""
        reference = self.settings.reference
        if reference is not None and Path(reference).expanduser().exists():
            return None
        return self.settings.reference_samples or self.settings.num_samples

    def evaluate(self, trainer: Trainer) -> dict[str, Any]:
        started = time.perf_counter()
        result = score_generator(
            trainer.sampling_generator, [spec.name for spec in self.specs], data=self.data,
            default_samples=self.settings.num_samples, reference=self.settings.reference,
            reference_samples=self.reference_samples,
            resolution=trainer.dataset.resolution or None, seed=self.settings.seed, device=trainer.device,
            cache_dir=self.cache_dir, weights=self.weights, option="--eval-metrics")
        result["protocol"]["eval_seconds"] = round(time.perf_counter() - started, 3)
        return result

    def on_step_end(self, trainer: Trainer, step: int) -> dict[str, float] | None:
        if step % self.settings.every:
            return None
        result = self.evaluate(trainer)
        measured = {k: result[k] for k in self.columns if k in result}  # None: undefined (reverse KL)
        record = {"source": "training", "step": step, "ema": trainer.generator_ema is not None,
                  "train_seconds": round(self.run.elapsed(), 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  **measured, "protocol": result["protocol"]}
        append_jsonl(self.paths.metrics, record)
        if self.keep_if_best(measured):
            self.run.save_best()
        return {k: float(v) for k, v in measured.items() if v is not None}

    def on_train_end(self, trainer: Trainer) -> None:
        records = read_jsonl(self.paths.metrics)
        curves = [value for spec in self.specs for value in spec.values if value.curve]
        for value in curves or [self.specs[0].values[0]]:  # no curve value among the metrics: the first one's
            plot_metric_curve(records, value.key, self.paths.root / value.curve_file)
