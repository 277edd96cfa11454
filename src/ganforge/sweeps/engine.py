"""A sweep on the study engine: its runs become the trials of an Optuna study with a grid sampler.

Runs that differ only in ``seed`` form one trial (its value is their mean, the spread is recorded), every
other run is a trial of its own; the grid is one categorical key naming the trial's group, so Optuna
hands each group to exactly one worker. The study is named after the sweep and a digest of its plan: the
same file resumes the same study, while a changed file (more steps, another evaluation, ``--only``) is a
new study whose trials find their run folders as far as earlier launches took them (finished runs are
only read, trained ones only evaluated, interrupted ones resumed).

The output folder holds the run folders plus ``sweep.json`` (the plan, which ``ganforge compare`` lists
in order, with the real-data floors it asks for), ``sweep.yaml`` (a copy of the file), ``study.json``,
``floor.json`` (the measured floors, :mod:`ganforge.sweeps.floor`) and, by default, ``study.db``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from optuna.samplers import GridSampler

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write_text
from ganforge.metrics.specs import ranking_metrics
from ganforge.registry import Registry
from ganforge.sweeps.floor import floor_requests, measure_sweep_floors
from ganforge.sweeps.spec import Sweep, run_name
from ganforge.tune.engines import PRUNERS, Engine, EngineChoice
from ganforge.tune.launch import launch
from ganforge.tune.plan import PlannedRun, StudyPlan, TrialRuns, digest
from ganforge.tune.queue import ERROR, trial_state
from ganforge.tune.space import ChoiceParam, SearchSpace

INDEX_FILE, SPEC_COPY = "sweep.json", "sweep.yaml"
INDEX_FORMAT = "ganforge-sweep"
GROUP_KEY = "run"  # the grid's one key: which group of runs a trial trains
SEED_AXIS = "seed"
RETRIES, HEARTBEAT = 1, 30
SWEEP_SAMPLER: Registry[Engine] = Registry("sweep sampler")  # the sampler of every sweep


def plan_order_grid_sampler(search_space: dict[str, list[Any]], seed: int | None = None) -> Any:
    """Optuna's grid sampler walking a one-key grid in the order given: a sweep trains its runs in file
    order (Optuna's own shuffles the grid, which suits searches, not a plan someone wrote down)."""
    sampler = GridSampler(search_space, seed=seed)
    sampler._all_grids = list(itertools.product(*sampler._search_space.values()))  # the one private touch
    return sampler


SWEEP_SAMPLER.register("plan-order grid", Engine("the sweep's runs in file order", __name__, "plan_order_grid_sampler",
                                                 arguments=lambda space: {"search_space": space.grid()}))


@dataclass(frozen=True)
class RunGroup:
    """Runs that differ only in their seed: one trial."""

    name: str
    runs: tuple[PlannedRun, ...]

    @property
    def kind(self) -> str:
        return self.runs[0].kind


def group_runs(sweep: Sweep) -> list[RunGroup]:
    groups: dict[str, list[PlannedRun]] = {}
    for run in sweep.runs:
        shared = {k: v for k, v in run.axes.items() if k != SEED_AXIS}
        name = run_name(run.config, shared) if SEED_AXIS in run.axes else run.name
        groups.setdefault(name, []).append(run)
    return [RunGroup(name, tuple(runs)) for name, runs in groups.items()]


def objective_for(sweep: Sweep, kind: str) -> str | None:
    """The value that scores a group: the first ranking value among the sweep's metrics of its kind."""
    measured = sweep.evaluation.metrics_for(kind)
    spec = next((spec for spec in ranking_metrics(kind) if spec.name in measured), None)
    return spec.rank_by[0] if spec else None


def index_document(sweep: Sweep) -> dict[str, Any]:
    return {"format": INDEX_FORMAT, "version": 1, "name": sweep.name, "description": sweep.description,
            "source": str(sweep.source), "evaluation": sweep.evaluation.to_dict(),
            "floors": [request.key() for request in floor_requests(sweep)],
            "runs": [{"name": run.name, "run_dir": run.name, "axes": run.axes, "kind": run.kind,
                      "preset": run.config.preset, "model": run.config.model, "data": run.config.data,
                      "loss": run.config.loss, "seed": run.config.seed, "steps": run.config.steps}
                     for run in sweep.runs]}


def write_index(sweep: Sweep) -> None:
    sweep.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(sweep.out / INDEX_FILE, json.dumps(index_document(sweep), indent=2, default=str) + "\n")
    if sweep.source.resolve() != (sweep.out / SPEC_COPY).resolve():
        atomic_write_text(sweep.out / SPEC_COPY, sweep.source.read_text())


def sweep_plan(sweep: Sweep) -> StudyPlan:
    groups = group_runs(sweep)
    names = [group.name for group in groups]
    by_name = {group.name: group for group in groups}
    if len(by_name) != len(groups):
        raise GanforgeError(f"{sweep.source}: two groups of runs share a name; give the extra runs distinct name: keys")
    total = len(groups)

    def trial_runs(trial: Any) -> TrialRuns:
        name = trial.suggest_categorical(GROUP_KEY, names)
        group = by_name[name]
        return TrialRuns(group.runs, sweep.evaluation, objective=objective_for(sweep, group.kind), name=name,
                         prefix=f"[{names.index(name) + 1}/{total}] ")

    fingerprint = digest({"runs": [(run.name, run.config.to_dict()) for run in sweep.runs],
                          "evaluation": sweep.evaluation.to_dict()})
    space = SearchSpace((ChoiceParam(GROUP_KEY, choices=tuple(names)),))
    return StudyPlan(kind="sweep", name=sweep.name, study_name=f"{sweep.name}-{fingerprint}",
                     description=sweep.description, source=sweep.source, out=sweep.out,
                     objective=objective_for(sweep, groups[0].kind), n_trials=total, retries=RETRIES,
                     heartbeat=HEARTBEAT, sampler=EngineChoice(SWEEP_SAMPLER, "plan-order grid", {}),
                     pruner=EngineChoice(PRUNERS, "none", {}), space=space, trial_runs=trial_runs)


@dataclass(frozen=True)
class GroupState:
    """Where a group of runs stands in the study: done, failed (with why), or still to run."""

    name: str
    status: str  # "done", "failed", "pending"
    error: str | None = None


def group_states(plan: StudyPlan, trials: list[Any]) -> list[GroupState]:
    """The latest attempt of each group decides its state."""
    latest: dict[str, Any] = {}
    for trial in sorted(trials, key=lambda t: t.number):
        if GROUP_KEY in trial.params:
            latest[trial.params[GROUP_KEY]] = trial
    states = []
    for name in plan.space.params[0].choices:
        trial = latest.get(name)
        if trial is not None and trial.state == trial_state("COMPLETE"):
            states.append(GroupState(name, "done"))
        elif trial is not None and trial.state == trial_state("FAIL"):
            states.append(GroupState(name, "failed", trial.user_attrs.get(ERROR)))
        else:
            states.append(GroupState(name, "pending"))
    return states


def run_sweep(sweep: Sweep, *, storage: str | None = None, progress: bool = False,
              echo: Any = print) -> list[GroupState]:
    """Run what is left of ``sweep`` in this process (``ganforge sweep`` without --jobs), then measure the
    real-data floor it lacks; returns where each group of runs stands afterwards."""
    write_index(sweep)
    plan = sweep_plan(sweep)
    states = group_states(plan, launch(plan, sweep.source, storage=storage, progress=progress, echo=echo))
    measure_sweep_floors(sweep, echo)
    return states
