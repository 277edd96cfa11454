"""Metrics during training: FID (or any registered metric) every K steps, a curve, the best checkpoint.

Runs on the 2-D mixtures are scored with the PacGAN protocol instead (modes captured, high-quality
share and reverse KL of 2,500 samples, as ``ganforge evaluate`` does), with no best checkpoint: no single
one of those numbers says which generator is better.

The sampled latents are the same at every evaluation (a fresh seeded sampler each time), so the curve
shows the generator changing, not the noise. The reference side uses as many images as the generated
side unless told otherwise (FID depends on N: equal N on both sides is the comparable choice) and is
cached on disk, so each evaluation after the first only extracts the generated images.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganforge.config import is_toy2d
from ganforge.metrics.specs import resolve_metrics
from ganforge.training.rundir import RunPaths

# Lower is better for these; the best checkpoint follows the first of them that is measured.
LOWER_IS_BETTER = ("fid", "kid")


TOY2D_COLUMNS = ("high_quality", "modes", "reverse_kl")


@dataclass(frozen=True)
class EvalSettings:
    every: int
    num_samples: int
    metrics: str = "auto"  # auto: fid for images, toy2d for the 2-D mixtures
    reference: str | None = None  # None: the training dataset
    reference_samples: int | None = None  # None: as many as num_samples
    seed: int = 0


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """One JSON object per line, appended and flushed: earlier evaluations are never rewritten."""
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_metric_curve(records: list[dict[str, Any]], metric: str, out: Path) -> bool:
    """``metric`` against step and against wall time; False when there is nothing to plot."""
    points = [(r["step"], r.get("train_seconds", 0.0), r[metric]) for r in records
              if r.get("source") == "training" and r.get(metric) is not None]
    if not points:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganforge.fileio import atomic_path

    steps, seconds, values = zip(*points, strict=True)
    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    by_step.plot(steps, values, marker="o", lw=1.2)
    by_step.set_xlabel("step")
    label = metric.upper().replace("_", " ")
    by_step.set_ylabel(label)
    by_time.plot([s / 60 for s in seconds], values, marker="o", lw=1.2, color="tab:orange")
    by_time.set_xlabel("wall time (min)")
    protocol = records[-1].get("protocol", {})
    n, unit = protocol.get("num_fake"), protocol.get("unit", "generated images")
    fig.suptitle(f"{label} during training ({n} {unit} per point)")
    for ax in (by_step, by_time):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return True


class MetricCallback:
    """A training Callback: evaluate, log to history/TensorBoard/metrics.jsonl, keep the best checkpoint."""

    def __init__(self, settings: EvalSettings, run) -> None:
        self.settings = settings
        self.toy2d = is_toy2d(run.config.data)
        self.specs = [] if self.toy2d else resolve_metrics("fid" if settings.metrics == "auto" else settings.metrics)
        self.columns = TOY2D_COLUMNS if self.toy2d else tuple(key for spec in self.specs for key in spec.keys)
        self.run = run  # the TrainingRun: paths, elapsed time, best-checkpoint writer
        self.paths: RunPaths = run.paths
        self.reference = settings.reference or run.config.data
        self.cache_dir = Path(run.config.cache_dir) if run.config.cache_dir else None
        self.best_key = None if self.toy2d else next((k for k in LOWER_IS_BETTER if k in self.columns), None)
        # On resume, the best so far is the best among evaluations up to the checkpoint we continue from.
        previous = [r[self.best_key] for r in read_jsonl(self.paths.metrics)
                    if self.best_key and r.get("source") == "training" and r.get(self.best_key) is not None
                    and r["step"] <= run.trainer.step]
        self.best = min(previous) if previous else float("inf")

    def evaluate(self, trainer) -> dict[str, Any]:
        started = time.perf_counter()
        result = self.evaluate_toy2d(trainer) if self.toy2d else self.evaluate_images(trainer)
        result["protocol"]["eval_seconds"] = round(time.perf_counter() - started, 3)
        return result

    def evaluate_toy2d(self, trainer) -> dict[str, Any]:
        from ganforge.metrics.toy2d import PROTOCOL_NUM_STD, PROTOCOL_SAMPLES, score_generator

        generator = trainer.sampling_generator
        was_training = generator.training
        generator.eval()  # BatchNorm with running statistics, as the saved generator samples
        try:
            scores = score_generator(generator, self.run.config.data, seed=self.settings.seed,
                                     num_classes=trainer.spec.num_classes, device=trainer.device).to_dict()
        finally:
            generator.train(was_training)
        return {**scores, "protocol": {"name": "pacgan-2d", "num_fake": PROTOCOL_SAMPLES, "unit": "samples",
                                       "hq_rule": f"within {PROTOCOL_NUM_STD:g} std of the nearest mode"}}

    def evaluate_images(self, trainer) -> dict[str, Any]:
        from ganforge.metrics import evaluate_generator, generator_sampler

        generator = trainer.sampling_generator
        result = evaluate_generator(
            generator_sampler(generator, seed=self.settings.seed, device=trainer.device),
            self.settings.num_samples, [spec.name for spec in self.specs], reference=self.reference,
            resolution=trainer.dataset.resolution or None, reference_samples=self.settings.reference_samples or self.settings.num_samples,
            device=str(trainer.device), cache_dir=self.cache_dir,
        )
        return result

    def on_step_end(self, trainer, step: int) -> dict[str, float] | None:
        if step % self.settings.every:
            return None
        result = self.evaluate(trainer)
        values = {k: float(result[k]) for k in self.columns if result.get(k) is not None}
        record = {"source": "training", "step": step, "ema": trainer.generator_ema is not None,
                  "train_seconds": round(self.run.elapsed(), 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  **values, "protocol": result["protocol"]}
        append_jsonl(self.paths.metrics, record)
        if self.best_key and values.get(self.best_key, float("inf")) < self.best:
            self.best = values[self.best_key]
            self.run.save_best()
        return values

    def on_train_end(self, trainer) -> None:
        records = read_jsonl(self.paths.metrics)
        for key in self.columns[:1]:
            plot_metric_curve(records, key, self.paths.root / f"{key}_curve.png")

