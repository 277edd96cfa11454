"""``ganforge sweep FILE.yaml``: train and evaluate a grid of runs, resumably (see ganforge.sweeps.spec)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ganforge.commands import Subparsers

if TYPE_CHECKING:
    from ganforge.config import TrainConfig
    from ganforge.sweeps.spec import Sweep

from ganforge.commands.tune import add_engine_arguments, worker_threads
from ganforge.data import KIND_NOUNS
from ganforge.errors import GanforgeError
from ganforge.metrics.specs import METRICS
from ganforge.sweeps import group_runs, group_states, load_sweep, run_status, sweep_plan, write_index
from ganforge.sweeps.floor import floor_states, measure_sweep_floors
from ganforge.tune.launch import existing_trials, launch
from ganforge.tune.storage import storage_url


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep", help="train and evaluate a grid of runs described by a YAML file (resumable)",
        description="Train every run of a sweep file (models x datasets x losses x seeds, presets, shared "
                    "settings, per-entry overrides), one after another or --jobs at a time, then evaluate each "
                    "with the file's metrics. Each run is an ordinary run folder under the sweep's output folder; "
                    "runs that differ only in their seed are one trial, scored by their mean. The sweep is a study "
                    "of the engine `ganforge tune` runs on (Optuna's grid sampler): running the same command "
                    "again continues it, and workers on other machines join it through --storage. Compare the "
                    "results with `ganforge compare OUT`. File format: examples/README.md in the repository, or "
                    "`python -m pydoc ganforge.sweeps.spec`.",
    )
    parser.add_argument("file", type=Path, metavar="FILE.yaml", help="the sweep file")
    add_engine_arguments(parser, "sweep")
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help="run only these runs (names or shell patterns such as 'wgan*'; repeatable, "
                             "or comma-separated)")
    parser.set_defaults(run=run)


def describe_config(config: TrainConfig) -> str:
    lead = f"{config.preset} ({config.model})" if config.preset and config.preset != config.model else config.model
    return (f"{lead}, loss {config.loss}, {config.data}, {config.steps} steps, batch {config.batch_size}, "
            f"width {config.width}, seed {config.seed}")


def describe_evaluation(sweep: Sweep) -> str:
    evaluation = sweep.evaluation
    if not evaluation.metrics:
        return "evaluation: none (no metrics: in the sweep file)"
    parts = []
    for kind, noun in KIND_NOUNS.items():
        names = evaluation.metrics_for(kind)
        if not names:
            continue
        text = f"{', '.join(names)} on {evaluation.samples_for(kind)} generated {noun}"
        if any(METRICS.get(name).needs_real for name in names):
            reference = evaluation.reference or "each run's training set"
            real = f"{evaluation.reference_samples} {noun} of" if evaluation.reference_samples else "all of"
            text += f" vs {real} {reference}"
        parts.append(text)
    return f"evaluation: {'; '.join(parts)}; latent seed {evaluation.seed}"


def print_plan(sweep: Sweep) -> None:
    print(f"sweep {sweep.name}: {len(sweep.runs)} runs in {sweep.out}")
    print(describe_evaluation(sweep))
    width = max(len(run.name) for run in sweep.runs)
    for index, run in enumerate(sweep.runs, 1):
        try:
            state = run_status(run, sweep.evaluation).describe(run.config.steps)
        except GanforgeError as exc:
            state = f"cannot run: {exc}"
        print(f"{index:>3}. {run.name:<{width}}  {describe_config(run.config)}  [{state}]")
    for line in floor_states(sweep):
        print(line)


def selected_names(only: list[str] | None) -> list[str]:
    return [name.strip() for item in only or [] for name in item.split(",") if name.strip()]


def run(args: argparse.Namespace) -> int:
    sweep = load_sweep(args.file, out=args.out)
    names = selected_names(args.only)
    if names:
        sweep = sweep.select(names)
    if args.dry_run:
        print_plan(sweep)
        return 0
    plan = sweep_plan(sweep)
    options = {"storage": args.storage, "jobs": args.jobs, "worker": args.worker,
               "progress": not args.no_progress and sys.stderr.isatty()}
    if args.worker:
        launch(plan, args.file, **options)
        return 0
    sizes = {group.name: len(group.runs) for group in group_runs(sweep)}
    before = existing_trials(plan, storage_url(args.storage, plan.out)) or []
    done_before = sum(sizes[state.name] for state in group_states(plan, before) if state.status == "done")
    print(f"sweep {sweep.name}: {len(sweep.runs)} runs in {sweep.out}; {describe_evaluation(sweep)}", flush=True)
    write_index(sweep)
    extra = (("--only", ",".join(names)) if names else ()) + worker_threads(args)
    states = group_states(plan, launch(plan, args.file, extra=extra, **options))
    measure_sweep_floors(sweep, lambda line: print(line, flush=True))
    failed = [state for state in states if state.status == "failed"]
    done = sum(sizes[state.name] for state in states if state.status == "done")
    summary = f"sweep {sweep.name}: {done}/{len(sweep.runs)} runs done ({done_before} already done)"
    if failed:
        details = "; ".join(f"{state.name}: {state.error}" for state in failed)
        print(f"{summary}; failed: {details}", flush=True)
        return 1
    print(f"{summary}; compare them with: ganforge compare {sweep.out}", flush=True)
    return 0
