"""Scoring a finished sweep run with :func:`ganforge.metrics.evaluate_run` (what ``ganforge evaluate`` runs),
appending to its metrics.jsonl.

Each run gets the sweep's metrics of its data kind (FID, KID, IS, PR, DC, FD_digits... for images, the
PacGAN scores for 2-D points) against the run's training set or the sweep's reference. Only the metrics
not yet measured at the final step with the requested sample count are computed, so adding a metric to a
finished sweep costs only that metric.
"""

from __future__ import annotations

from typing import Any

from ganforge.sweeps.spec import EvaluationSpec, PlannedRun

INCEPTION_BATCH = 50


def evaluate_planned_run(run: PlannedRun, evaluation: EvaluationSpec, metrics: list[str]) -> dict[str, Any]:
    """Measure ``metrics`` of ``run`` and append the record to its metrics.jsonl; returns the record."""
    from ganforge.metrics.run import evaluate_run

    return evaluate_run(run.run_dir, metrics, num_samples=evaluation.samples_for(run.kind),
                        reference=evaluation.reference, reference_samples=evaluation.reference_samples,
                        device=evaluation.device, seed=evaluation.seed, batch_size=INCEPTION_BATCH, append=True)
