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


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep", help="train and evaluate a grid of runs described by a YAML file (resumable)",
        description="Train every run of a sweep file (models x datasets x losses x seeds, presets, shared "
                    "settings, per-entry overrides), one after another or --jobs at a time, then evaluate each "
                    "with the file's metrics. Each run is an ordinary run folder under the sweep's output folder. "
                    "Running the same command again skips finished runs and resumes an interrupted one. "
                    "Compare the results with `ganforge compare OUT`. File format: examples/README.md in the "
                    "repository, or `python -m pydoc ganforge.sweeps.spec`.",
    )
    parser.add_argument("file", type=Path, metavar="FILE.yaml", help="the sweep file")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: the file's out:, else runs/<name>)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="runs trained at the same time, each in its own process (default 1)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and what each needs; train nothing")
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help="run only these runs (names or shell patterns such as 'wgan*'; repeatable, "
                             "or comma-separated)")
    parser.add_argument("--no-progress", action="store_true", help="hide the training progress bars")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one run for --jobs N
    parser.set_defaults(run=run)


def describe_config(config: TrainConfig) -> str:
    lead = f"{config.preset} ({config.model})" if config.preset and config.preset != config.model else config.model
    return (f"{lead}, loss {config.loss}, {config.data}, {config.steps} steps, batch {config.batch_size}, "
            f"width {config.width}, seed {config.seed}")


def describe_evaluation(sweep: Sweep) -> str:
    from ganforge.data import KIND_NOUNS
    from ganforge.metrics.specs import METRICS

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
    from ganforge.errors import GanforgeError
    from ganforge.sweeps.state import run_status

    print(f"sweep {sweep.name}: {len(sweep.runs)} runs in {sweep.out}")
    print(describe_evaluation(sweep))
    width = max(len(run.name) for run in sweep.runs)
    for index, run in enumerate(sweep.runs, 1):
        try:
            state = run_status(run, sweep.evaluation).describe(run.config.steps)
        except GanforgeError as exc:
            state = f"cannot run: {exc}"
        print(f"{index:>3}. {run.name:<{width}}  {describe_config(run.config)}  [{state}]")


def selected_names(only: list[str] | None) -> list[str]:
    return [name.strip() for item in only or [] for name in item.split(",") if name.strip()]


def run(args: argparse.Namespace) -> int:
    from ganforge.sweeps import load_sweep, run_sweep

    sweep = load_sweep(args.file, out=args.out)
    names = selected_names(args.only)
    if names:
        sweep = sweep.select(names)
    if args.dry_run:
        print_plan(sweep)
        return 0
    progress = not args.no_progress and sys.stderr.isatty()
    if not args.worker:
        print(f"sweep {sweep.name}: {len(sweep.runs)} runs in {sweep.out}; {describe_evaluation(sweep)}", flush=True)
    outcomes = run_sweep(sweep, jobs=args.jobs, progress=progress, worker=args.worker,
                         echo=lambda line: print(line, flush=True))
    failed = [o.name for o in outcomes if o.status == "failed"]
    if args.worker:
        return 1 if failed else 0
    skipped = sum(o.status == "skipped" for o in outcomes)
    summary = f"sweep {sweep.name}: {len(outcomes) - len(failed)}/{len(sweep.runs)} runs done ({skipped} already done)"
    if failed:
        print(f"{summary}; failed: {', '.join(failed)} (details in {sweep.out / 'sweep.jsonl'})", flush=True)
        return 1
    print(f"{summary}; compare them with: ganforge compare {sweep.out}", flush=True)
    return 0
