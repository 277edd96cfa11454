"""Sweeps: a YAML grid of runs trained, resumed and evaluated into one output folder.

``load_sweep(path)`` validates and expands the file (:mod:`ganforge.sweeps.spec` documents the schema);
``sweep_plan(sweep)`` makes it a study of the engine that ``ganforge tune`` runs on
(:mod:`ganforge.sweeps.engine`): Optuna's grid sampler over the sweep's runs, in the same storage.
"""

from __future__ import annotations

from ganforge.sweeps.engine import (
    GroupState,
    RunGroup,
    group_runs,
    group_states,
    run_sweep,
    sweep_plan,
    write_index,
)
from ganforge.sweeps.spec import Sweep, load_sweep
from ganforge.tune.folders import RunStatus, run_status
from ganforge.tune.plan import EvaluationSpec, PlannedRun

__all__ = ["EvaluationSpec", "GroupState", "PlannedRun", "RunGroup", "RunStatus", "Sweep", "group_runs",
           "group_states", "load_sweep", "run_status", "run_sweep", "sweep_plan", "write_index"]
