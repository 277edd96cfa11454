"""What the study engine runs: a :class:`StudyPlan` of trials, each trial one or more :class:`PlannedRun`.

``ganforge tune`` (a search space sampled by Optuna) and ``ganforge sweep`` (a grid of named runs, Optuna's
grid sampler over one categorical key) both become a StudyPlan; :mod:`ganforge.tune.worker` runs either.
A trial trains its runs (one per seed) as ordinary run folders under ``out`` and its value is the mean of
the objective over them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganforge.config import TrainConfig
from ganforge.config_build import data_kind
from ganforge.metrics.specs import HIGHER, METRICS, find_value, protocol_samples

DEFAULT_SAMPLES = 5000  # unless the metrics' protocol prescribes a count (toy2d: 2500)
DIRECTIONS = {HIGHER: "maximize"}  # Optuna's name for each direction; anything else minimizes


@dataclass(frozen=True)
class EvaluationSpec:
    """What is measured on each finished run, and with which protocol."""

    metrics: tuple[str, ...] = ()
    samples: int | None = None
    reference: str | None = None
    reference_samples: int | None = None
    seed: int = 0
    device: str = "auto"

    def metrics_for(self, kind: str) -> tuple[str, ...]:
        """The metrics a run of this data kind gets (image or points); empty means train only."""
        return tuple(name for name in self.metrics if METRICS.get(name).data_kind == kind)

    def samples_for(self, kind: str) -> int:
        if self.samples is not None:
            return self.samples
        return protocol_samples([METRICS.get(name) for name in self.metrics_for(kind)]) or DEFAULT_SAMPLES

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": list(self.metrics), "samples": self.samples, "reference": self.reference,
                "reference_samples": self.reference_samples, "seed": self.seed, "device": self.device}


@dataclass(frozen=True)
class PlannedRun:
    """One run: its folder name, fully resolved config (run_dir set) and the values that made it."""

    name: str
    config: TrainConfig
    axes: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return Path(str(self.config.run_dir))

    @property
    def kind(self) -> str:
        return data_kind(self.config.data)


@dataclass(frozen=True)
class TrialRuns:
    """A trial's runs (one per seed) and how each is measured once trained."""

    runs: tuple[PlannedRun, ...]
    evaluation: EvaluationSpec
    objective: str | None = None  # the metric value key that scores it; None: nothing (value 0)
    name: str = ""  # what the trial is, for messages ("" = "trial N")
    prefix: str = ""  # the start of its progress lines (a sweep's "[2/5] ")


@dataclass(frozen=True)
class StudyPlan:
    """Everything a worker needs to run trials of one study."""

    kind: str  # "tune" or "sweep": the command that made it
    name: str  # the file's name
    study_name: str  # the Optuna study in the storage
    description: str
    source: Path
    out: Path
    objective: str | None  # the metric value key trials are scored by; None: none (value 0)
    n_trials: int
    retries: int
    heartbeat: int  # seconds between a worker's signs of life; 2x without one = the trial is dead
    sampler: Any  # tune.engines.EngineChoice
    pruner: Any  # tune.engines.EngineChoice
    space: Any  # tune.space.SearchSpace
    trial_runs: Callable[[Any], TrialRuns]  # optuna.Trial -> its runs
    prune: bool = False  # report evaluations during training to the pruner

    @property
    def direction(self) -> str:
        found = find_value(self.objective) if self.objective else None
        return DIRECTIONS.get(found[1].better or "", "minimize") if found else "minimize"

    def objective_label(self) -> str:
        found = find_value(self.objective) if self.objective else None
        return found[1].label if found else "value"

    def describe_objective(self) -> str:
        found = find_value(self.objective) if self.objective else None
        if not found:
            return "no objective"
        return f"{found[1].label} ({found[1].better} is better)"

    def index(self) -> dict[str, Any]:
        """study.json: what `ganforge compare` and a later launch need to find this study."""
        return {"format": "ganforge-study", "version": 1, "kind": self.kind, "name": self.name,
                "study_name": self.study_name, "description": self.description, "source": str(self.source),
                "objective": self.objective, "direction": self.direction, "n_trials": self.n_trials}


def digest(document: Any) -> str:
    """A short stable fingerprint of a JSON-able document (a sweep's plan names its study by it)."""
    text = json.dumps(document, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]
