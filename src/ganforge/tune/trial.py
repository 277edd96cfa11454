"""One trial: train (or resume) each of its runs, measure them, and score the trial.

A trial's value is the mean of the objective over its runs (one per seed); the spread goes into the
trial's user attributes (``seed_values``, ``std``, ``se``, and ``mean.<key>`` / ``se.<key>`` for every
value measured), so reports show mean ± standard error rather than one lucky seed.
"""

from __future__ import annotations

import math
import shutil
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.metrics.specs import describe_values, find_value
from ganforge.progress import format_duration
from ganforge.training import train
from ganforge.tune.folders import (
    NEW,
    RESTART,
    RESUME,
    RunStatus,
    evaluate_missing,
    final_values,
    run_status,
    trained_seconds,
    training_curve,
)
from ganforge.tune.plan import PlannedRun, StudyPlan, TrialRuns
from ganforge.tune.pruning import PruningCallback

Echo = Callable[[str], None]


class NotRetried(GanforgeError):
    """A failure that another attempt would repeat."""


class ObjectiveUndefined(GanforgeError):
    """The objective has no value for a run (reverse KL when no mode is captured): the trial is recorded
    as pruned, which Optuna's samplers count as a bad outcome (a failed trial they would ignore)."""


def mean_se(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, standard deviation, standard error) over seeds; spread 0 for a single seed."""
    mean = math.fsum(values) / len(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std, std / math.sqrt(len(values))


def starting(action: str, step: int, steps: int) -> str:
    return {NEW: f"training {steps} steps", RESTART: f"restarting (stopped before its first checkpoint), {steps} steps",
            RESUME: f"resuming from step {step}/{steps}"}[action]


@dataclass
class RunOutcome:
    run: PlannedRun
    status: RunStatus
    values: dict[str, float | None] = field(default_factory=dict)
    seconds: float | None = None

    def describe(self) -> str:
        if self.status.trains:
            verb = "resumed and trained" if self.status.action == RESUME else "trained"
            took = f" in {format_duration(self.seconds)}" if self.seconds is not None else ""
            text = f"{verb} to step {self.run.config.steps}{took}"
        else:
            text = "evaluated" if self.status.action != "done" else "already done"
        return f"{text}; {describe_values(self.values)}" if self.values else text


def aggregate(outcomes: Sequence[RunOutcome], objective: str | None) -> tuple[float, dict[str, Any]]:
    """The trial's value and user attributes from its runs' final values."""
    attrs: dict[str, Any] = {"runs": [o.run.name for o in outcomes], "seeds": [o.run.config.seed for o in outcomes]}
    keys = dict.fromkeys(k for o in outcomes for k, v in o.values.items() if v is not None)
    for key in keys:
        numbers = [float(v) for o in outcomes if (v := o.values.get(key)) is not None]
        attrs[f"mean.{key}"], _, attrs[f"se.{key}"] = mean_se(numbers)
    if objective is None:
        return 0.0, attrs
    undefined = [o.run.name for o in outcomes if o.values.get(objective) is None]
    if undefined:
        found = find_value(objective)
        label = found[1].label if found else objective
        raise ObjectiveUndefined(f"{label} is undefined for {', '.join(undefined)} (nothing to measure it on)")
    seed_values = [float(o.values[objective]) for o in outcomes]  # type: ignore[arg-type]
    value, attrs["std"], attrs["se"] = mean_se(seed_values)
    attrs["seed_values"] = seed_values
    return value, attrs


def run_one(run: PlannedRun, trial_runs: TrialRuns, callbacks: list[Any], progress: bool, echo: Echo,
            prefix: str = "") -> RunOutcome:
    try:
        status = run_status(run, trial_runs.evaluation)
    except GanforgeError as exc:  # a folder that is not this run's: refused, and refused again next time
        raise NotRetried(str(exc)) from None
    outcome = RunOutcome(run, status)
    if status.trains:
        echo(f"{prefix}{run.name}: {starting(status.action, status.step, run.config.steps)}")
        if status.action == NEW and run.run_dir.is_dir():
            shutil.rmtree(run.run_dir)  # only what a kill before config.yaml left (folders, temp files)
        result = train(run.config, resume=status.action == RESUME, overwrite=status.action == RESTART,
                       callbacks=callbacks, progress=progress)
        outcome.seconds = result.seconds
    else:
        outcome.seconds = trained_seconds(run)
    evaluate_missing(run, trial_runs.evaluation)
    outcome.values = final_values(run, trial_runs.evaluation)
    return outcome


def execute_trial(plan: StudyPlan, trial: Any, trial_runs: TrialRuns, *, progress: bool, echo: Echo) -> float:
    """Train and measure the trial's runs; returns its value (raises optuna.TrialPruned when pruned)."""
    trial.set_user_attr("runs", [run.name for run in trial_runs.runs])
    if trial.params and not trial_runs.name:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        echo(f"trial {trial.number}: {params}")
    started = time.perf_counter()
    outcomes: list[RunOutcome] = []
    curves: list[Mapping[int, Any]] = []
    for index, run in enumerate(trial_runs.runs):
        callbacks: list[Any] = []
        if plan.prune and trial_runs.objective:
            callbacks.append(PruningCallback(trial, run, trial_runs.objective, seed_index=index, earlier=curves))
        outcome = run_one(run, trial_runs, callbacks, progress, echo, prefix=trial_runs.prefix)
        echo(f"{trial_runs.prefix}{run.name}: {outcome.describe()}")
        outcomes.append(outcome)
        if trial_runs.objective:
            curves.append(training_curve(run, trial_runs.objective))
    value, attrs = aggregate(outcomes, trial_runs.objective)
    for key, item in attrs.items():
        trial.set_user_attr(key, item)
    if trial_runs.objective and (len(outcomes) > 1 or not trial_runs.name):
        found = find_value(trial_runs.objective)
        spread = f" ± {attrs['se']:.4g} (s.e. over {len(outcomes)} seeds)" if len(outcomes) > 1 else ""
        echo(f"{trial_runs.prefix}{trial_runs.name or f'trial {trial.number}'}: "
             f"{found[1].label if found else 'value'} {value:.4g}{spread}")
    trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
    return value
