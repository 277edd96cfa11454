"""The study part of a report on a ``ganforge tune`` or ``ganforge sweep`` folder (one with study.json).

It reads the study from its database: the best trials with mean ± standard error over their seeds (and
whether the best is separated from the runner-up by more than that spread), the real-data floor of a
sweep, the pruned and the failed trials, and Optuna's own matplotlib figures (optimization history, parameter
importances, the intermediate values that the pruner judged). The per-run table, grids and curves of the
trials' run folders come with it, as for any folder of runs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import optuna
from optuna.visualization import matplotlib as optuna_plots

from ganforge.errors import GanforgeError
from ganforge.metrics.floor import Floor
from ganforge.metrics.specs import HIGHER, MISSING, find_value, metric_values
from ganforge.tune.queue import ERROR, SURPLUS, original_number, trial_state
from ganforge.tune.storage import open_storage, read_index, storage_error

BEST_ROWS = 10


@dataclass(frozen=True)
class Section:
    """A titled table of the report (rendered by both the HTML and the Markdown writer)."""

    title: str
    intro: str
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class BestTrial:
    """The study's best trial by its objective: the one best of the whole report."""

    name: str  # "trial 7", or the name of a sweep's group of runs
    runs: tuple[str, ...]
    reason: str  # the objective, its mean over the seeds and its spread


@dataclass
class StudyReport:
    sections: list[Section] = field(default_factory=list)
    figures: list[tuple[str, str, Path]] = field(default_factory=list)  # (title, caption, png)
    notes: list[str] = field(default_factory=list)
    best: BestTrial | None = None


def load_indexed_study(folder: Path, storage: str | None) -> tuple[dict[str, Any], Any]:
    """The study.json of ``folder`` and the Optuna study it names (``storage`` when its URL hides a password)."""
    index = read_index(folder)
    if index is None:
        raise GanforgeError(f"{folder} has no study.json; it is not a ganforge tune or sweep folder")
    url = storage or str(index.get("storage", ""))
    if "***" in url:
        raise GanforgeError(f"the storage of {folder} has a password; pass it with --storage URL")

    try:
        study = optuna.load_study(study_name=str(index["study_name"]), storage=open_storage(url, 30, None))
    except KeyError:
        raise GanforgeError(f"the storage {index.get('storage')} holds no study {index['study_name']}; pass "
                            "the right one with --storage") from None
    except Exception as exc:
        raise storage_error(url, exc) from None
    return index, study


def show(key: str, number: float | None, averaged: bool = False) -> str:
    """A value as the registry formats it; a mean of whole numbers (modes) keeps one decimal."""
    found = find_value(key)
    if number is None or not math.isfinite(number):
        return MISSING
    if not found:
        return f"{number:.4g}"
    spec = found[1].format
    return format(number, spec[:-2] + "1f" if averaged and spec.endswith(".0f") else spec)


def mean_cell(trial: Any, key: str) -> str:
    """'3.5 ± 0.5': the mean over the trial's seeds and its standard error (the mean alone for one seed)."""
    mean, se = trial.user_attrs.get(f"mean.{key}"), trial.user_attrs.get(f"se.{key}")
    if mean is None:
        return MISSING
    if len(trial.user_attrs.get("seeds", [])) < 2:
        return show(key, mean)
    return f"{show(key, mean, averaged=True)} ± {show(key, se, averaged=True)}"


def param_cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def label_of(key: str | None) -> str:
    found = find_value(key) if key else None
    return found[1].label if found else "value"


def measured_keys(trials: list[Any]) -> list[str]:
    """The value keys the trials measured, in registry order (columns, not spreads or totals)."""
    present = {key[len("mean."):] for t in trials for key in t.user_attrs if key.startswith("mean.")}
    return [value.key for _, value in metric_values() if value.key in present and not value.companion]


@dataclass(frozen=True)
class TrialResult:
    """A trial's objective over its seeds: what the separation rule compares."""

    name: str
    mean: float
    se: float
    seeds: int


def trial_result(trial: Any, key: str) -> TrialResult | None:
    mean, se = trial.user_attrs.get(f"mean.{key}"), trial.user_attrs.get(f"se.{key}")
    if mean is None or not math.isfinite(mean):
        return None
    params = list(trial.params.values())
    # a sweep's one key names its group of runs (dcgan_digits5k); a search's values need their keys
    name = params[0] if len(params) == 1 and isinstance(params[0], str) else f"trial {trial.number}"
    return TrialResult(name, float(mean), float(se or 0.0), len(trial.user_attrs.get("seeds", [])) or 1)


SEPARATION_RULE = "rule: not separated when |mean₁ − mean₂| < s.e.₁ + s.e.₂, i.e. when the mean ± s.e. intervals overlap"


def separation(key: str, best: TrialResult, runner_up: TrialResult) -> str:
    """One sentence: whether the best trial and the runner-up are separated by more than their spread
    over seeds (the rule is stated in it), or that one seed leaves the spread unknown."""
    label = label_of(key)
    gap = abs(best.mean - runner_up.mean)

    def number(value: float) -> str:  # three significant digits: the table's rounding can hide the gap
        return f"{value:.3g}"

    def shown(result: TrialResult) -> str:
        return f"{result.name} ({label} {number(result.mean)} ± {number(result.se)})"

    if min(best.seeds, runner_up.seeds) < 2:
        return (f"One seed per trial: the spread over seeds is unknown, so whether {best.name} is better than the "
                f"runner-up {runner_up.name} ({label} {number(gap)} apart) or only luckier is not "
                "known; train each configuration with more seeds.")
    spread = best.se + runner_up.se
    if gap < spread:
        return (f"Not separated by the seeds: the best trial, {shown(best)}, and the runner-up, {shown(runner_up)}, "
                f"differ by {number(gap)}, less than their standard errors together "
                f"({number(spread)}; {SEPARATION_RULE}).")
    seeds = min(best.seeds, runner_up.seeds)
    return (f"Separated by the seeds: the best trial, {shown(best)}, leads the runner-up, {shown(runner_up)}, by "
            f"{number(gap)}, more than their standard errors together "
            f"({number(spread)}; {SEPARATION_RULE}); with {seeds} seeds a rough check, not a "
            "significance test.")


def floor_row(floor: Floor, keys: list[str], params: list[str]) -> list[str]:
    return [MISSING, floor.label, MISSING, *[show(key, floor.values.get(key)) for key in keys],
            *[MISSING for _ in params], floor.request.data]


def rank_trials(index: dict[str, Any], trials: list[Any]) -> list[Any]:
    """The finished trials, best first by the study's objective."""
    objective = index.get("objective")
    found = find_value(objective) if objective else None
    higher = found[1].better == HIGHER if found else index.get("direction") == "maximize"
    return sorted(trials, key=lambda t: t.value, reverse=higher)


def best_trial(index: dict[str, Any], trials: list[Any]) -> BestTrial | None:
    """The first row of the best-trials table, which every other "best" of the report follows."""
    objective = str(index.get("objective") or "")
    ranked = [(t, r) for t in rank_trials(index, trials) if objective and (r := trial_result(t, objective))]
    if not ranked:
        return None
    trial, result = ranked[0]
    found = find_value(objective)
    phrase = found[1].phrase if found else f"{'highest' if index.get('direction') == 'maximize' else 'lowest'} {objective}"
    over = f", mean over {result.seeds} seeds" if result.seeds > 1 else ""
    return BestTrial(result.name, tuple(trial.user_attrs.get("runs", [])),
                     f"the study's objective, {phrase}{over}: {mean_cell(trial, objective)}")


def best_section(index: dict[str, Any], trials: list[Any], params: list[str],
                 floors: Sequence[Floor] = ()) -> Section:
    objective = index.get("objective")
    found = find_value(objective) if objective else None
    keys = measured_keys(trials)
    ordered = rank_trials(index, trials)[:BEST_ROWS]
    header = ["rank", "trial", "seeds", *[label_of(k) for k in keys], *params, "runs"]
    rows = [[str(rank), str(t.number), str(len(t.user_attrs.get("seeds", [])) or 1),
             *[mean_cell(t, key) for key in keys],
             *[param_cell(t.params.get(p, MISSING)) for p in params], ", ".join(t.user_attrs.get("runs", []))]
            for rank, t in enumerate(ordered, 1)]
    rows += [floor_row(floor, keys, params) for floor in floors]
    intro = (f"Ranked by {found[1].label} ({found[1].better} is better), mean ± standard error over each "
             "trial's seeds." if found else "Trials in order (the study has no objective).")
    if floors:
        intro += " The real data rows score real images under the same protocol: the floor of these numbers."
    results = [r for t in ordered if objective and (r := trial_result(t, objective))]
    if len(results) >= 2 and objective:
        intro += " " + separation(objective, results[0], results[1])
    return Section("Best trials", intro, header, rows)


def pruned_section(index: dict[str, Any], trials: list[Any], params: list[str]) -> Section:
    label = label_of(index.get("objective"))
    rows = []
    for t in trials:
        steps = sorted(t.intermediate_values)
        last = t.intermediate_values[steps[-1]] if steps else None
        rows.append([str(t.number), str(steps[-1]) if steps else MISSING, show(index.get("objective") or "", last),
                     *[param_cell(t.params.get(p, MISSING)) for p in params], ", ".join(t.user_attrs.get("runs", []))])
    return Section("Pruned trials", "Stopped early by the pruner; each folder resumes from the checkpoint of the "
                   "evaluation that stopped it (ganforge train --run-dir RUN --resume).",
                   ["trial", "stopped at step", f"last {label}", *params, "runs"], rows)


def failed_section(trials: list[Any]) -> Section:
    rows = [[str(t.number), str(original_number(t)), t.user_attrs.get(ERROR, "worker died")] for t in trials]
    return Section("Failed trials", "A trial whose retry finished is listed under its retry too.",
                   ["trial", "retry of", "error"], rows)


def draw(plot: str, study: Any, path: Path, **options: Any) -> bool:
    """One figure of optuna.visualization.matplotlib written to ``path``; False when Optuna cannot draw it."""
    matplotlib.use("Agg")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            axes = getattr(optuna_plots, plot)(study, **options)
        except (ValueError, RuntimeError, ZeroDivisionError):
            return False
    figure = axes.flat[0].figure if hasattr(axes, "flat") else axes.figure
    figure.set_size_inches(8, 4.5)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def study_report(folder: Path, figure_dir: Path, storage: str | None = None,
                 floors: Sequence[Floor] = ()) -> StudyReport:
    index, study = load_indexed_study(folder, storage)
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(SURPLUS)]
    params = list(dict.fromkeys(p for t in trials for p in t.params))
    report = StudyReport()
    complete = [t for t in trials if t.state == trial_state("COMPLETE")]
    pruned = [t for t in trials if t.state == trial_state("PRUNED")]
    failed = [t for t in trials if t.state == trial_state("FAIL")]
    report.sections.append(best_section(index, complete, params, floors))
    report.best = best_trial(index, complete)
    if pruned:
        report.sections.append(pruned_section(index, pruned, params))
    if failed:
        report.sections.append(failed_section(failed))
    label = label_of(index.get("objective"))
    figures = [("plot_optimization_history", "Optimization history",
                f"{label} of each finished trial and the best so far.", {"target_name": label})]
    if len(params) > 1:
        figures.append(("plot_param_importances", "Parameter importances",
                        f"How much of the variation of {label} each searched key explains (Optuna's fANOVA "
                        "estimate over the finished trials).", {"target_name": label}))
    if any(t.intermediate_values for t in trials):
        figures.append(("plot_intermediate_values", "Intermediate values",
                        f"{label} at each evaluation during training, the values the pruner judged (pruned "
                        "trials stop early).", {}))
    for plot, title, caption, options in figures:
        path = figure_dir / f"study-{plot}.png"
        if draw(plot, study, path, **options):
            report.figures.append((title, caption, path))
        else:
            report.notes.append(f"{title}: not enough finished trials to draw it yet.")
    report.notes.append(f"The study database ({index.get('storage')}) opens in optuna-dashboard: "
                        f"optuna-dashboard {index.get('storage')}")
    return report
