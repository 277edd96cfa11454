"""Sweeps: a YAML grid of runs trained, resumed and evaluated into one output folder.

``load_sweep(path)`` validates and expands the file (:mod:`ganforge.sweeps.spec` documents the schema);
``run_sweep(sweep)`` runs what is not done yet (:mod:`ganforge.sweeps.runner`).
"""

from __future__ import annotations

from ganforge.sweeps.runner import Outcome, SweepInterrupted, run_sweep
from ganforge.sweeps.spec import EvaluationSpec, PlannedRun, Sweep, load_sweep
from ganforge.sweeps.state import RunStatus, run_status

__all__ = ["EvaluationSpec", "Outcome", "PlannedRun", "RunStatus", "Sweep", "SweepInterrupted", "load_sweep",
           "run_status", "run_sweep"]
