"""The study file of ``ganforge tune``: a strictly validated YAML description of a hyperparameter search.

Schema (unknown keys are errors naming the closest valid key)::

    name: ring-lr                 # the Optuna study's name; default: the file's stem
    description: free text
    out: runs/ring-lr             # the study folder (default runs/<name>); --out overrides
    objective: reverse_kl         # a registered metric value; its direction comes from the metric registry
    n_trials: 20                  # trials of the study, whatever the number of workers and launches
    seeds: 1                      # runs per trial: a count (settings' seed, +1, ...) or a list of seeds
    retries: 1                    # further attempts of a failed trial (or one whose worker died)
    sampler: tpe                  # tpe, random, grid, cmaes; or {name: tpe, seed: 0, n_startup_trials: 5}
    pruner: median                # median, successive_halving, hyperband, none; or {name: median, ...}
    heartbeat: 30                 # seconds; a trial silent for twice that is taken as dead
    settings: {data: toy2d:ring, model: mlp, steps: 2000, eval_every: 200}   # every trial's config
    search: {lr_g: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}}      # see ganforge.tune.space

The objective is measured by ``--eval-every`` during training (``settings.eval_every``, a divisor of
``steps``), which feeds the pruner; the value at the last step is the run's score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganforge.config import TrainConfig
from ganforge.config_build import build_config, data_kind, normalize_keys
from ganforge.errors import GanforgeError, did_you_mean
from ganforge.metrics.specs import METRICS, find_value, metric_values, protocol_samples, resolve_metrics
from ganforge.tune.engines import PRUNERS, SAMPLERS, parse_engine
from ganforge.tune.launch import launch
from ganforge.tune.plan import EvaluationSpec, PlannedRun, StudyPlan, TrialRuns
from ganforge.tune.queue import original_number
from ganforge.tune.schema import check_keys, file_header, mapping, optional_int, read_mapping_file
from ganforge.tune.space import RESERVED_KEYS, SearchSpace, parse_space

TOP_KEYS = ("name", "description", "out", "objective", "n_trials", "seeds", "retries", "sampler", "pruner",
            "heartbeat", "settings", "search")
DEFAULT_RETRIES, DEFAULT_HEARTBEAT = 1, 30


def parse_objective(raw: Any, kind: str, where: str) -> str:
    """A metric value key whose metric scores ``kind`` and which has a direction."""
    fitting = [value.key for spec, value in metric_values() if value.better and spec.data_kind == kind]
    if not isinstance(raw, str):
        raise GanforgeError(f"{where} needs objective: a metric value to optimize ({', '.join(fitting)})")
    found = find_value(raw)
    if found is None:
        if raw in METRICS:
            values = [v.key for v in METRICS.get(raw).columns if v.better]
            raise GanforgeError(f"{where} objective: {raw} is a metric with several values; name one: "
                                f"{', '.join(values)}")

        raise GanforgeError(f"{where} objective: unknown metric value '{raw}'{did_you_mean(raw, fitting)}; "
                            f"choose one of: {', '.join(fitting)}")
    spec, value = found
    if not value.better:
        raise GanforgeError(f"{where} objective: {raw} is the spread or total of another value and has no "
                            f"direction; choose one of: {', '.join(fitting)}")
    if spec.data_kind != kind:
        raise GanforgeError(f"{where} objective: {raw} does not score the data of settings ({kind}); choose one of: "
                            f"{', '.join(fitting)}")
    return raw


def parse_seeds(raw: Any, base: int, where: str) -> tuple[int, ...]:
    if raw is None:
        return (base,)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
        return tuple(range(base, base + raw))
    if isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool) for s in raw):
        if len(set(raw)) != len(raw):
            raise GanforgeError(f"{where} seeds lists a seed more than once")
        return tuple(raw)
    raise GanforgeError(f"{where} seeds must be a count >= 1 or a list of whole numbers, got {raw!r}")


def trial_settings(settings: dict[str, Any], objective: str, where: str) -> dict[str, Any]:
    """What every trial adds to the settings: the objective's metric during training, and checkpoints at
    the evaluations, so a pruned trial's folder resumes from where it was judged."""
    config = build_config(settings)
    if not config.eval_every:
        raise GanforgeError(f"{where}: tune measures the objective during training; set settings.eval_every "
                            f"(a divisor of steps, e.g. {max(1, config.steps // 10)})")
    if config.steps % config.eval_every:
        raise GanforgeError(f"{where}: steps {config.steps} is not a multiple of eval_every {config.eval_every}, so "
                            "the last step would not be measured; make it one")
    extra: dict[str, Any] = {}
    spec = find_value(objective)[0]  # type: ignore[index]
    if "eval_metrics" in settings:
        chosen = resolve_metrics(config.eval_metrics, data_kind(config.data), option="settings.eval_metrics")
        if spec not in chosen:
            raise GanforgeError(f"{where}: settings.eval_metrics {config.eval_metrics} does not measure the "
                                f"objective {objective}; add {spec.name}")
    else:
        extra["eval_metrics"] = spec.name
    if "checkpoint_every" not in settings:
        extra["checkpoint_every"] = config.eval_every
    elif config.eval_every % config.checkpoint_every:
        raise GanforgeError(f"{where}: eval_every {config.eval_every} must be a multiple of checkpoint_every "
                            f"{config.checkpoint_every}, so that a pruned trial's folder has the checkpoint of the "
                            "evaluation that stopped it")
    return extra


@dataclass(frozen=True)
class TuneStudy:
    """A loaded study file; :meth:`plan` is what the engine runs."""

    name: str
    description: str
    source: Path
    out: Path
    objective: str
    n_trials: int
    seeds: tuple[int, ...]
    retries: int
    heartbeat: int
    settings: dict[str, Any]
    space: SearchSpace
    sampler: Any
    pruner: Any

    def run_name(self, number: int, seed: int) -> str:
        return f"trial-{number:04d}" if len(self.seeds) == 1 else f"trial-{number:04d}_seed{seed}"

    def config(self, values: dict[str, Any], seed: int, run_dir: Path) -> TrainConfig:
        return build_config(self.settings, values, {"seed": seed, "run_dir": str(run_dir)})

    def evaluation(self, config: TrainConfig) -> EvaluationSpec:
        """The protocol of the training-time evaluation, which scores the final step too."""
        spec = find_value(self.objective)[0]  # type: ignore[index]
        samples = protocol_samples([spec]) or config.eval_samples
        reference_samples = None if spec.protocol_samples else config.eval_samples
        return EvaluationSpec(metrics=(spec.name,), samples=samples, reference=config.eval_reference,
                              reference_samples=reference_samples, seed=config.seed, device=config.device)

    def runs(self, number: int, values: dict[str, Any]) -> tuple[PlannedRun, ...]:
        """The runs of trial ``number`` (of the trial it retries) with these config values, one per seed."""
        names = [(self.run_name(number, seed), seed) for seed in self.seeds]
        return tuple(PlannedRun(name, self.config(values, seed, self.out / name), dict(values)) for name, seed in names)

    def runs_of(self, trial: Any) -> tuple[PlannedRun, ...]:
        """The runs of a trial of this study (an Optuna FrozenTrial), finished or not."""
        return self.runs(original_number(trial), self.space.config_values(trial.params))

    def trial_runs(self, trial: Any) -> TrialRuns:
        values = self.space.sample(trial)
        frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
        runs = self.runs(original_number(frozen), values)
        return TrialRuns(runs, self.evaluation(runs[0].config), objective=self.objective)

    def plan(self) -> StudyPlan:
        return StudyPlan(kind="tune", name=self.name, study_name=self.name, description=self.description,
                         source=self.source, out=self.out, objective=self.objective, n_trials=self.n_trials,
                         retries=self.retries, heartbeat=self.heartbeat, sampler=self.sampler, pruner=self.pruner,
                         space=self.space, trial_runs=self.trial_runs, prune=True)


def load_study(path: Path, out: Path | None = None) -> TuneStudy:
    """Read and validate a study file; nothing is written."""
    path = Path(path)
    raw = read_mapping_file(path, "study file", "objective:, search:, n_trials:")
    where = str(path)
    check_keys(raw, TOP_KEYS, where)
    name, description, out = file_header(raw, path, out)
    settings = normalize_keys(mapping(raw.get("settings"), f"{where} settings"), f"{where} settings")
    if "run_dir" in settings:
        raise GanforgeError(f"'run_dir' cannot be set in {where} settings: {RESERVED_KEYS['run_dir']}")
    try:
        base = build_config(settings)
    except GanforgeError as exc:
        raise GanforgeError(f"{where} settings: {exc}") from None
    objective = parse_objective(raw.get("objective"), data_kind(base.data), where)
    settings = {**settings, **trial_settings(settings, objective, where)}
    n_trials = optional_int(raw.get("n_trials"), "n_trials", where)
    if n_trials is None:
        raise GanforgeError(f"{where} needs n_trials: the number of trials to run (e.g. 20)")
    space = parse_space(raw.get("search"), settings, f"{where} search")
    retries = optional_int(raw.get("retries", DEFAULT_RETRIES), "retries", where, minimum=0)
    heartbeat = optional_int(raw.get("heartbeat", DEFAULT_HEARTBEAT), "heartbeat", where)
    return TuneStudy(name=name, description=description, source=path, out=out, objective=objective,
                     n_trials=n_trials, seeds=parse_seeds(raw.get("seeds"), base.seed, where),
                     retries=int(retries or 0), heartbeat=int(heartbeat or DEFAULT_HEARTBEAT),
                     settings=settings, space=space,
                     sampler=parse_engine(raw.get("sampler"), SAMPLERS, "tpe", space, f"{where} sampler"),
                     pruner=parse_engine(raw.get("pruner"), PRUNERS, "median", space, f"{where} pruner"))



def run_study(study: TuneStudy, *, storage: str | None = None, jobs: int = 1, progress: bool = False,
              echo: Any = print) -> list[Any]:
    """Run what is left of ``study`` (``ganforge tune``); returns the study's trials (Optuna FrozenTrials)."""
    return launch(study.plan(), study.source, storage=storage, jobs=jobs, progress=progress, echo=echo)
