"""Where a trial's run stands, read from its folder: what is left to do before it can be scored.

A run is *done* when its generator is saved at the final step, the end-of-training artifacts were written
after it, and metrics.jsonl holds every requested metric at that step with the requested sample count.
Anything short of that says what is left: start, restart (killed before its first checkpoint), resume from
checkpoints/last.pt, or only evaluate. A folder trained with other settings, or holding foreign files,
is refused, never overwritten. The study database says which trials are finished; the folder says how
far the run of an unfinished (retried, resumed) trial got.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganforge.config import TrainConfig, resumable_keys
from ganforge.config_build import build_config, read_yaml_config
from ganforge.errors import GanforgeError
from ganforge.fileio import stale_temp_files
from ganforge.metrics.records import MetricRecord, generator_step, last_finite, read_metric_records
from ganforge.metrics.run import evaluate_run
from ganforge.runfolder import LOCK_FILE, RunFolder, read_history_columns
from ganforge.tune.plan import EvaluationSpec, PlannedRun

NEW, RESTART, RESUME, EVALUATE, DONE = "new", "restart", "resume", "evaluate", "done"
INFERENCE_BATCH = 50


@dataclass(frozen=True)
class RunStatus:
    action: str  # NEW, RESTART, RESUME, EVALUATE or DONE
    step: int  # steps already trained (0 when nothing is checkpointed)

    def describe(self, steps: int) -> str:
        return {NEW: "not started", RESTART: "restart (stopped before its first checkpoint)",
                RESUME: f"resume from step {self.step}/{steps}", EVALUATE: f"trained {steps} steps, evaluate",
                DONE: "done"}[self.action]

    @property
    def trains(self) -> bool:
        return self.action in (NEW, RESTART, RESUME)


def changed_options(saved: TrainConfig, planned: TrainConfig) -> list[str]:
    old, new = saved.to_dict(), planned.to_dict()
    return [key for key, value in new.items() if key not in resumable_keys() and old.get(key) != value]


def check_same_config(run: PlannedRun, paths: RunFolder) -> None:
    """A folder trained with other settings must not be resumed or counted as this run."""
    try:
        saved = build_config(read_yaml_config(paths.config))
    except GanforgeError as exc:
        raise GanforgeError(f"run {run.name}: cannot read {paths.config} ({exc}); move the folder away") from None
    changed = changed_options(saved, run.config)
    if changed:
        details = ", ".join(f"{k} {saved.to_dict()[k]!r} -> {run.config.to_dict()[k]!r}" for k in changed)
        raise GanforgeError(f"run {run.name}: {paths.root} was trained with other settings ({details}); "
                            "move that folder away or change the out: folder to start fresh")


def nothing_written(root: Path) -> bool:
    """Only folders, the temporary files of writes cut short and the run's lock file: what a kill before
    config.yaml was in place leaves (the lock is taken first; a live holder is refused when training starts)."""
    stale = set(stale_temp_files(root))
    return all(p in stale or p.name == LOCK_FILE or (p.is_dir() and nothing_written(p)) for p in root.iterdir())


def training_finished(paths: RunFolder, steps: int) -> bool:
    """The run got to the very end of ``steps``: generator.json says so, written after every artifact, so a
    run killed while finishing is not mistaken for a finished one (``RunFolder.is_finished``)."""
    return paths.is_finished(steps)


def reference_counts(record: MetricRecord) -> list[Any]:
    """The reference sizes a record says it was measured against (None = a whole set), in each of its
    protocol's sections (Inception's at the top, other feature kinds' in their own)."""
    sections = [record.protocol, *(v for v in record.protocol.values() if isinstance(v, dict))]
    return [section["reference_num_samples"] for section in sections if "reference_num_samples" in section]


def final_records(run: PlannedRun, evaluation: EvaluationSpec) -> list[MetricRecord]:
    """The records of the final step under the evaluation's N fake and N real: a training-time evaluation
    at that step (--eval-every, its eval_samples on both sides) counts only when its reference size is the
    evaluation's too."""
    samples = evaluation.samples_for(run.kind)
    return [r for r in read_metric_records(RunFolder(run.run_dir).metrics)
            if r.step == run.config.steps and r.num_fake == samples
            and all(count == evaluation.reference_samples for count in reference_counts(r))]


def missing_metrics(run: PlannedRun, evaluation: EvaluationSpec) -> list[str]:
    """The evaluation's metrics for this run that metrics.jsonl lacks at the final step with its N."""
    wanted = evaluation.metrics_for(run.kind)
    if not wanted:
        return []
    records = final_records(run, evaluation)
    return [metric for metric in wanted if not any(record.has(metric) for record in records)]


def final_values(run: PlannedRun, evaluation: EvaluationSpec) -> dict[str, float | None]:
    """The latest values measured at the run's final step under the evaluation's protocol."""
    values: dict[str, float | None] = {}
    for record in final_records(run, evaluation):
        values.update(record.values)
    return values


def run_status(run: PlannedRun, evaluation: EvaluationSpec) -> RunStatus:
    paths = RunFolder(run.run_dir)
    root = paths.root
    if not root.exists() or (root.is_dir() and nothing_written(root)):
        return RunStatus(NEW, 0)
    if not root.is_dir():
        raise GanforgeError(f"run {run.name}: {root} is a file; move it away")
    if not paths.config.is_file():
        raise GanforgeError(f"run {run.name}: {root} holds files but no config.yaml, so it is not a ganforge run; "
                            "move it away")
    check_same_config(run, paths)
    if not paths.last_checkpoint.is_file():
        return RunStatus(RESTART, 0)
    step = generator_step(root) or 0
    if step > run.config.steps:
        raise GanforgeError(f"run {run.name}: {root} is already trained to step {step}, past steps: "
                            f"{run.config.steps}; raise steps or move the folder away")
    if not training_finished(paths, run.config.steps):
        return RunStatus(RESUME, step)
    if missing_metrics(run, evaluation):
        return RunStatus(EVALUATE, step)
    return RunStatus(DONE, step)


def evaluate_missing(run: PlannedRun, evaluation: EvaluationSpec) -> list[str]:
    """Measure what metrics.jsonl lacks at the final step (appending the record); the metrics measured."""
    missing = missing_metrics(run, evaluation)
    if missing:
        evaluate_run(run.run_dir, missing, num_samples=evaluation.samples_for(run.kind),
                     reference=evaluation.reference, reference_samples=evaluation.reference_samples,
                     device=evaluation.device, seed=evaluation.seed, batch_size=INFERENCE_BATCH, append=True)
    return missing


def trained_seconds(run: PlannedRun) -> float | None:
    return last_finite(read_history_columns(RunFolder(run.run_dir).history).get("seconds", []))


def training_curve(run: PlannedRun, key: str) -> dict[int, Any]:
    """step -> value of ``key`` from the run's evaluations during training (None where undefined)."""
    return {r.step: r.values[key] for r in read_metric_records(RunFolder(run.run_dir).metrics)
            if r.step is not None and key in r.values and r.raw.get("source") == "training"}
