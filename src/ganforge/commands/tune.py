"""``ganforge tune STUDY.yaml``: a hyperparameter search on Optuna, resumable and shared by many workers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ganforge.commands import Subparsers
from ganforge.commands.options import add_threads_flag
from ganforge.tune.launch import best_line, existing_trials, launch, storage_line, summary
from ganforge.tune.storage import storage_url
from ganforge.tune.study import load_study

if TYPE_CHECKING:
    from ganforge.tune.study import TuneStudy

DATABASE_FILE = "study.db"  # ganforge.tune.storage.DATABASE_FILE (not imported: --help stays instant)


def add_engine_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """The options of the study engine, shared by tune and sweep."""
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: the file's out:, else runs/<name>)")
    parser.add_argument("--storage", default=None, metavar="URL",
                        help="the study database: postgresql://user:password@host/db or mysql://... so that "
                             f"workers on several machines share one {what} (default: $GANFORGE_STORAGE, else "
                             f"sqlite:///OUT/{DATABASE_FILE})")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="worker processes on this machine, each training one trial at a time (default 1)")
    parser.add_argument("--dry-run", action="store_true", help="show the plan and what is done; train nothing")
    parser.add_argument("--no-progress", action="store_true", help="hide the training progress bars")
    parser.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)  # process K of --jobs N
    add_threads_flag(parser)


def worker_threads(args: argparse.Namespace) -> tuple[str, ...]:
    """--threads for the --jobs worker processes, which train with the thread count this command got."""
    return ("--threads", str(args.command_threads)) if args.command_threads else ()


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "tune", help="search training hyperparameters with Optuna (pruning, seeds, many workers)",
        description="Run the trials of a study file: each samples the search space, trains one run per seed "
                    "(ordinary run folders under the study folder), reports the objective at every --eval-every "
                    "evaluation so that the pruner can stop hopeless trials, and scores the mean over seeds. "
                    "The study lives in a database (SQLite in the study folder, or --storage): running the "
                    "command again continues it, and workers on other machines join it. Compare the trials "
                    "with `ganforge compare OUT`. File format: `python -m pydoc ganforge.tune.study`.",
    )
    parser.add_argument("file", type=Path, metavar="STUDY.yaml", help="the study file")
    add_engine_arguments(parser, "study")
    parser.set_defaults(run=run)


def print_plan(study: TuneStudy, args: argparse.Namespace) -> None:
    plan = study.plan()
    print(f"study {plan.name}: {plan.n_trials} trials of {len(study.seeds)} run(s) each in {plan.out}")
    print(f"objective: {plan.describe_objective()}; sampler {plan.sampler.describe()}; pruner "
          f"{plan.pruner.describe()}; seeds {', '.join(map(str, study.seeds))}; retries {plan.retries}")
    for param in study.space.params:
        print(f"  {param.describe()}")
    print(storage_line(plan, args))
    trials = existing_trials(plan, storage_url(args.storage, plan.out))
    print(summary(plan, trials) if trials is not None else "not started")


def run(args: argparse.Namespace) -> int:
    study = load_study(args.file, out=args.out)
    if args.dry_run:
        print_plan(study, args)
        return 0
    plan = study.plan()
    if not args.worker:
        print(f"study {plan.name}: {plan.n_trials} trials, objective {plan.describe_objective()}, in {plan.out}",
              flush=True)
    trials = launch(plan, args.file, storage=args.storage, jobs=args.jobs, worker=args.worker,
                    progress=not args.no_progress and sys.stderr.isatty(), extra=worker_threads(args))
    if args.worker:
        return 0
    print(summary(plan, trials), flush=True)
    best = best_line(plan, trials)
    if best:
        print(best, flush=True)
    print(f"compare the trials with: ganforge compare {plan.out}", flush=True)
    return 0
