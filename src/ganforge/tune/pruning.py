"""The training Callback that reports the objective to an Optuna trial and stops the run when it is hopeless.

It reads what ``--eval-every`` wrote (:class:`ganforge.training.evaluation.MetricCallback` appends one
metrics.jsonl record per evaluation): training calls callbacks in order and the evaluation callback comes
after the ones passed to ``train``, so the record of step S is read at step S + 1 (and the last one when
training ends). Trials set ``checkpoint_every`` to divide ``eval_every``, so when a trial is pruned at
step S + 1 its folder holds the step-S checkpoint: a valid run folder that ``ganforge train --resume``
continues.

With several seeds per trial the runs train one after another; seed j's evaluation at step S is reported
at step ``j * steps + S`` as the mean over seeds 0..j at S, so every trial's step means the same amount
of training and pruners compare like with like.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from ganforge.metrics.specs import find_value
from ganforge.tune.folders import training_curve
from ganforge.tune.plan import PlannedRun


def as_number(value: Any) -> float:
    """An objective value for Optuna; an undefined one (reverse KL without a mode) is NaN, which pruners
    treat as hopeless."""
    return math.nan if value is None else float(value)


def seed_mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


class PruningCallback:
    """Report ``objective`` at each evaluation to ``trial``; raise optuna.TrialPruned when the pruner says so."""

    def __init__(self, trial: Any, run: PlannedRun, objective: str, *, seed_index: int = 0,
                 earlier: Sequence[Mapping[int, Any]] = ()) -> None:
        self.trial, self.run, self.objective = trial, run, objective
        self.every = run.config.eval_every
        self.offset = seed_index * run.config.steps
        self.earlier = list(earlier)  # the curves of the trial's earlier seeds
        found = find_value(objective)
        self.label = found[1].label if found else objective
        # A resumed run has reported its evaluations up to the checkpoint already (the retried trial
        # inherits them), and Optuna takes one value per step.
        self.reported: set[int] = set(training_curve(run, objective))

    def value_at(self, step: int) -> float | None:
        """The mean over this and the earlier seeds at ``step``; None when this run has no record there."""
        curve = training_curve(self.run, self.objective)
        if step not in curve:
            return None
        values = [as_number(c[step]) for c in self.earlier if step in c] + [as_number(curve[step])]
        return seed_mean(values)

    def report(self, step: int) -> float | None:
        if step in self.reported:
            return None
        value = self.value_at(step)
        if value is None:
            return None
        self.trial.report(value, self.offset + step)
        self.reported.add(step)
        return value

    def on_step_end(self, trainer: Any, step: int) -> dict[str, float] | None:
        evaluated = step - 1
        if evaluated > 0 and evaluated % self.every == 0:
            value = self.report(evaluated)
            if value is not None and self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {evaluated} ({self.label} {value:.4g}); its folder "
                                         f"resumes from the step-{evaluated} checkpoint")
        return None

    def on_train_end(self, trainer: Any) -> None:
        self.report(trainer.step)  # the final evaluation: reported, never pruned on
