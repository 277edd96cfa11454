"""Scoring a finished sweep run and appending the record to its metrics.jsonl.

2-D toy runs use ``ganforge evaluate``'s PacGAN protocol; image runs the metrics package
(:func:`ganforge.metrics.evaluate_generator`) against the run's training set (or the sweep's reference).
Records have the shape ``ganforge evaluate`` writes: kind, dataset, step, ema, seed, values, protocol, time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ganforge.sweeps.spec import EvaluationSpec, PlannedRun
from ganforge.training.rundir import RunPaths


def evaluate_toy2d_run(run: PlannedRun, evaluation: EvaluationSpec) -> dict[str, Any]:
    from ganforge.commands.evaluate import evaluate_run

    args = argparse.Namespace(run_dir=run.run_dir, samples=evaluation.samples_for("toy2d"),
                              seed=evaluation.seed, device=evaluation.device)
    return evaluate_run(args)


def evaluate_image_run(run: PlannedRun, evaluation: EvaluationSpec, progress: bool = False) -> dict[str, Any]:
    from ganforge.metrics import evaluate_generator, generator_sampler
    from ganforge.models import load_generator
    from ganforge.training.loop import resolve_device

    device = resolve_device(evaluation.device)
    generator, info = load_generator(run.run_dir, device)
    config = run.config
    result = evaluate_generator(
        generator_sampler(generator, seed=evaluation.seed, device=device), evaluation.samples_for("image"),
        list(evaluation.image_metrics), reference=evaluation.reference or config.data,
        reference_samples=evaluation.reference_samples, device=str(device),
        cache_dir=Path(config.cache_dir) if config.cache_dir else None, progress=progress)
    return {"kind": "image", "dataset": config.data, "step": info.meta.get("step"), "ema": bool(info.meta.get("ema")),
            "seed": evaluation.seed, **result, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def evaluate_planned_run(run: PlannedRun, evaluation: EvaluationSpec, progress: bool = False) -> dict[str, Any]:
    """Measure ``run`` with the sweep's metrics and append the record to its metrics.jsonl."""
    from ganforge.commands.evaluate import append_jsonl

    if run.kind == "toy2d":
        record = evaluate_toy2d_run(run, evaluation)
    else:
        record = evaluate_image_run(run, evaluation, progress)
    append_jsonl(RunPaths(run.run_dir).metrics, record)
    return record
