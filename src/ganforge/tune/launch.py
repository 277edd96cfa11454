"""What ``ganforge tune`` and ``ganforge sweep`` share: storage, workers, and the closing summary."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from ganforge.tune.plan import StudyPlan
from ganforge.tune.queue import trial_state
from ganforge.tune.storage import (
    DATABASE_FILE,
    default_storage,
    open_storage,
    open_study,
    shown_url,
    storage_error,
    storage_url,
    write_index,
)
from ganforge.tune.worker import Worker, counts, main_command, run_processes, worker_prefix

Echo = Callable[[str], None]


def echo_for(worker: int) -> Echo:
    prefix = worker_prefix(worker)
    return lambda line: print(prefix(line), flush=True)


def existing_trials(plan: StudyPlan, url: str) -> list[Any] | None:
    """The study's trials, without creating anything: None when there is no study yet."""
    if url == default_storage(plan.out) and not (plan.out / DATABASE_FILE).is_file():
        return None

    try:
        storage = open_storage(url, plan.heartbeat, None)
        return optuna.load_study(study_name=plan.study_name, storage=storage).get_trials(deepcopy=False)
    except KeyError:
        return None
    except Exception as exc:
        raise storage_error(url, exc) from None


def launch(plan: StudyPlan, file: Path, *, storage: str | None = None, jobs: int = 1, worker: int = 0,
           progress: bool = False, echo: Echo | None = None, extra: tuple[str, ...] = ()) -> list[Any]:
    """Run workers until the study's budget is spent; returns the study's trials.

    ``worker`` > 0: this process is worker K of ``--jobs N``. ``extra``: arguments the worker processes
    need besides the file and the folder (a sweep's --only)."""
    url = storage_url(storage, plan.out)
    echo = echo or echo_for(worker)
    if worker:
        process = Worker(plan, url, progress=False, echo=echo)
        process.run()
        return process.trials()
    write_index(plan, url)
    if jobs > 1:
        study = open_study(plan, url)  # the tables and the study exist before the workers race for them
        run_processes(plan, url, jobs, [*main_command(plan.kind, str(file), str(plan.out)), *extra], echo)
        return study.get_trials(deepcopy=False)
    here = Worker(plan, url, progress=progress, echo=echo)
    here.run()
    return here.trials()


def summary(plan: StudyPlan, trials: list[Any]) -> str:
    tally = counts(trials)
    noun = "trial" if plan.kind == "tune" else "run group"
    text = (f"{plan.kind} {plan.name}: {tally.finished}/{plan.n_trials} {noun}s finished ({tally.complete} complete, "
            f"{tally.pruned} pruned, {tally.failed} failed)")
    if tally.running:
        text += f"; {tally.running} running in other workers"
    return text


def best_line(plan: StudyPlan, trials: list[Any]) -> str | None:
    complete = [t for t in trials if t.state == trial_state("COMPLETE")]
    if not complete or not plan.objective:
        return None
    pick = max if plan.direction == "maximize" else min
    best = pick(complete, key=lambda t: t.value)
    se = best.user_attrs.get("se")
    spread = f" ± {se:.4g}" if se else ""
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items())
    return f"best trial {best.number}: {plan.objective_label()} {best.value:.4g}{spread} ({params})"


def storage_line(plan: StudyPlan, args: argparse.Namespace) -> str:
    return f"storage {shown_url(storage_url(args.storage, plan.out))}, study {plan.study_name}"
