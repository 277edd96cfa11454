"""Scoring a finished sweep run through ``ganforge evaluate``'s API, appending to its metrics.jsonl.

Image runs get the sweep's metrics (FID, KID, IS, PR, DC, FD_digits...) against the run's training set or
the sweep's reference; 2-D toy runs the PacGAN protocol. Only the metrics not yet measured at the final
step with the requested sample count are computed, so adding a metric to a finished sweep costs only
that metric.
"""

from __future__ import annotations

import argparse
from typing import Any

from ganforge.sweeps.spec import EvaluationSpec, PlannedRun
from ganforge.training.rundir import RunPaths

INCEPTION_BATCH = 50


def evaluate_args(run: PlannedRun, evaluation: EvaluationSpec, metrics: list[str]) -> argparse.Namespace:
    """The options ``ganforge evaluate RUN_DIR`` would get for this run."""
    image = run.kind == "image"
    return argparse.Namespace(
        run_dir=run.run_dir, seed=evaluation.seed, device=evaluation.device,
        samples=None if image else evaluation.samples_for("toy2d"),
        num_samples=evaluation.samples_for("image") if image else None,
        metrics=",".join(metrics) if image else "fid", reference=evaluation.reference,
        reference_samples=evaluation.reference_samples, inception_weights=None, batch_size=INCEPTION_BATCH)


def evaluate_planned_run(run: PlannedRun, evaluation: EvaluationSpec, metrics: list[str]) -> dict[str, Any]:
    """Measure ``metrics`` of ``run`` and append the record to its metrics.jsonl; returns the record."""
    from ganforge.commands.evaluate import append_jsonl, evaluate_run

    record = evaluate_run(evaluate_args(run, evaluation, metrics))
    append_jsonl(RunPaths(run.run_dir).metrics, record)
    return record
