"""Running a sweep: each run trained (or resumed) then evaluated, one after another or N at a time.

The output folder holds one ordinary run folder per run plus:

- ``sweep.json``: the plan (name, description, evaluation protocol, runs with their grid values), rewritten
  at each launch; ``ganforge compare OUT`` reads it to list the runs in plan order;
- ``sweep.yaml``: a copy of the sweep file that produced it;
- ``sweep.jsonl``: one line per run handled by each launch (status, timings, metric values);
- ``logs/<run>.log``: the output of each run trained in a subprocess (``--jobs N``).

A stop (Ctrl-C, SIGTERM) lets the current training step finish and checkpoint; running the same sweep
again skips finished runs and resumes the interrupted one from ``checkpoints/last.pt``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, NoReturn

from ganforge.errors import GanforgeError
from ganforge.fileio import append_jsonl, atomic_write_text
from ganforge.metrics.specs import describe_values
from ganforge.report.records import generator_step, read_metric_records
from ganforge.report.table import duration
from ganforge.sweeps.spec import PlannedRun, Sweep
from ganforge.sweeps.state import DONE, EVALUATE, NEW, RESTART, RESUME, missing_metrics, run_status
from ganforge.training.rundir import RunPaths

INDEX_FILE, SUMMARY_FILE, SPEC_COPY, LOG_FOLDER = "sweep.json", "sweep.jsonl", "sweep.yaml", "logs"
INDEX_FORMAT = "ganforge-sweep"
Echo = Callable[[str], None]


class SweepInterrupted(GanforgeError):
    def __init__(self, sweep: Sweep, signum: int, where: str) -> None:
        super().__init__(f"sweep {sweep.name} stopped by {signal.Signals(signum).name} {where}; run the same "
                         f"command again to continue (finished runs are skipped, interrupted ones resume)")
        self.exit_code = 128 + signum


@dataclass
class Outcome:
    """What happened to one run in this launch; one line of sweep.jsonl."""

    name: str
    status: str  # "done" (trained and/or evaluated now), "skipped" (already done), "failed", "interrupted"
    action: str = DONE
    steps: int | None = None
    train_seconds: float | None = None
    images_per_s: float | None = None
    eval_seconds: float | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None

    def record(self, run: PlannedRun) -> dict[str, Any]:
        return {"name": self.name, "run_dir": run.name, "status": self.status, "action": self.action,
                "steps": self.steps, "train_seconds": self.train_seconds, "images_per_s": self.images_per_s,
                "eval_seconds": self.eval_seconds, "metrics": self.metrics, "error": self.error,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


# -- files of the sweep folder ------------------------------------------------------------------------

def index_document(sweep: Sweep) -> dict[str, Any]:
    return {"format": INDEX_FORMAT, "version": 1, "name": sweep.name, "description": sweep.description,
            "source": str(sweep.source), "evaluation": sweep.evaluation.to_dict(),
            "runs": [{"name": run.name, "run_dir": run.name, "axes": run.axes, "kind": run.kind,
                      "preset": run.config.preset, "model": run.config.model, "data": run.config.data,
                      "loss": run.config.loss, "seed": run.config.seed, "steps": run.config.steps}
                     for run in sweep.runs]}


def write_index(sweep: Sweep) -> None:
    sweep.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(sweep.out / INDEX_FILE, json.dumps(index_document(sweep), indent=2, default=str) + "\n")
    if sweep.source.resolve() != (sweep.out / SPEC_COPY).resolve():
        atomic_write_text(sweep.out / SPEC_COPY, sweep.source.read_text())


def append_summary(sweep: Sweep, run: PlannedRun, outcome: Outcome) -> None:
    append_jsonl(sweep.out / SUMMARY_FILE, outcome.record(run))


# -- progress lines -----------------------------------------------------------------------------------

def starting(action: str, step: int, steps: int) -> str:
    return {NEW: f"training {steps} steps", RESTART: f"restarting (stopped before its first checkpoint), {steps} steps",
            RESUME: f"resuming from step {step}/{steps}"}[action]


def describe(outcome: Outcome) -> str:
    if outcome.status == "failed":
        return f"failed: {outcome.error}"
    if outcome.status == "interrupted":
        if outcome.steps is None:
            return "interrupted before its first checkpoint; it restarts next time"
        return f"interrupted; resumes from its step-{outcome.steps} checkpoint next time"
    if outcome.status == "skipped":
        text = "already done, skipped"
    elif outcome.action == EVALUATE:
        text = "evaluated"
    else:
        rate = f" ({outcome.images_per_s:.0f} img/s)" if outcome.images_per_s else ""
        verb = "resumed and trained" if outcome.action == RESUME else "trained"
        text = f"{verb} to step {outcome.steps} in {duration(outcome.train_seconds)}{rate}"
    if outcome.metrics:
        evaluated = f" (evaluated in {duration(outcome.eval_seconds)})" if outcome.eval_seconds is not None else ""
        text += f"; {describe_values(outcome.metrics)}{evaluated}"
    return text


# -- one run ------------------------------------------------------------------------------------------

def final_metrics(run: PlannedRun) -> dict[str, float | None]:
    """The latest values measured at the run's final step."""
    values: dict[str, float | None] = {}
    for record in read_metric_records(RunPaths(run.run_dir).metrics):
        if record.step == run.config.steps:
            values.update(record.values)
    return values


def trained_seconds(run: PlannedRun) -> float | None:
    from ganforge.report.collect import last_finite, read_history_columns

    return last_finite(read_history_columns(RunPaths(run.run_dir).history).get("seconds", []))


def execute_run(run: PlannedRun, sweep: Sweep, progress: bool, echo: Echo, prefix: str) -> Outcome:
    """Train (new, restarted or resumed) and evaluate ``run`` as its folder requires."""
    from ganforge.sweeps.evaluation import evaluate_planned_run
    from ganforge.training import train

    status = run_status(run, sweep.evaluation)
    outcome = Outcome(run.name, "done", status.action, steps=status.step)
    if status.action == DONE:
        outcome.status = "skipped"
        outcome.train_seconds = trained_seconds(run)
        outcome.metrics = final_metrics(run)
        return outcome
    if status.action in (NEW, RESTART, RESUME):
        echo(f"{prefix}{run.name}: {starting(status.action, status.step, run.config.steps)}")
        if status.action == NEW and run.run_dir.is_dir():
            shutil.rmtree(run.run_dir)  # only empty folders left by a kill before the first file
        result = train(run.config, resume=status.action == RESUME, overwrite=status.action == RESTART,
                       progress=progress)
        outcome.steps, outcome.train_seconds = result.steps, result.seconds
        outcome.images_per_s = round(result.images_per_s, 1)
    else:
        outcome.steps, outcome.train_seconds = run.config.steps, trained_seconds(run)
    missing = missing_metrics(run, sweep.evaluation)
    if missing:
        echo(f"{prefix}{run.name}: evaluating {', '.join(missing)} on {sweep.evaluation.samples_for(run.kind)} "
             "samples")
        started = time.perf_counter()
        evaluate_planned_run(run, sweep.evaluation, missing)
        outcome.eval_seconds = round(time.perf_counter() - started, 1)
    outcome.metrics = final_metrics(run)
    return outcome


@contextmanager
def stop_on_signals(sweep: Sweep, where: Callable[[], str]) -> Iterator[None]:
    """Outside the training loop (which checkpoints first) a stop ends the sweep at once: an evaluation or a
    dataset load cut short is simply redone next time."""

    def handler(signum: int, frame: FrameType | None) -> NoReturn:
        raise SweepInterrupted(sweep, signum, where())

    with signal_handler(handler):
        yield


@contextmanager
def signal_handler(handler: Callable[[int, FrameType | None], Any]) -> Iterator[None]:
    """``handler`` for SIGINT and SIGTERM while the block runs; outside the main thread (where Python
    cannot install handlers) the process keeps its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_sequential(sweep: Sweep, *, progress: bool, echo: Echo, numbered: bool = True) -> list[Outcome]:
    from ganforge.training.run import TrainingInterrupted

    outcomes: list[Outcome] = []
    current = [""]
    total = len(sweep.runs)
    with stop_on_signals(sweep, lambda: f"during {current[0]}"):
        for index, run in enumerate(sweep.runs, 1):
            current[0] = run.name
            prefix = f"[{index}/{total}] " if numbered else ""
            try:
                outcome = execute_run(run, sweep, progress, echo, prefix)
            except TrainingInterrupted as exc:
                append_summary(sweep, run, Outcome(run.name, "interrupted", RESUME, steps=generator_step(run.run_dir),
                                                   error=str(exc)))
                raise SweepInterrupted(sweep, exc.exit_code - 128, f"during {run.name} (checkpoint saved)") from None
            except SweepInterrupted as exc:
                append_summary(sweep, run, Outcome(run.name, "interrupted", RESUME, steps=generator_step(run.run_dir),
                                                   error=str(exc)))
                raise
            except Exception as exc:  # one broken run must not cost the others
                if not isinstance(exc, GanforgeError):
                    traceback.print_exc()
                message = str(exc) if isinstance(exc, GanforgeError) else f"{type(exc).__name__}: {exc}"
                outcome = Outcome(run.name, "failed", error=message)
            append_summary(sweep, run, outcome)
            echo(f"{prefix}{run.name}: {describe(outcome)}")
            outcomes.append(outcome)
    return outcomes


# -- N at a time --------------------------------------------------------------------------------------

def worker_command(sweep: Sweep, run: PlannedRun) -> list[str]:
    return [sys.executable, "-m", "ganforge", "sweep", str(sweep.source), "--out", str(sweep.out),
            "--only", run.name, "--worker", "--no-progress"]


def worker_env(jobs: int) -> dict[str, str]:
    """Split the CPU between the workers instead of letting each start one thread per core."""
    env = dict(os.environ)
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env


def last_outcome(sweep: Sweep, name: str, since: int) -> Outcome | None:
    """The record a worker appended to sweep.jsonl for ``name`` after byte ``since``."""
    try:
        with open(sweep.out / SUMMARY_FILE) as handle:
            handle.seek(since)
            lines = handle.read().splitlines()
    except OSError:
        return None
    found = None
    for line in lines:
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(raw, dict) and raw.get("name") == name:
            fields: dict[str, Any] = {k: raw.get(k) for k in ("status", "action", "steps", "train_seconds",
                                                              "images_per_s", "eval_seconds", "error")}
            found = Outcome(name=name, metrics=raw.get("metrics") or {}, **fields)
    return found


def estimated_cost(run: PlannedRun) -> float:
    """Relative training cost: D updates per step, doubled by a gradient penalty (a second backward)."""
    config = run.config
    penalty = 2.0 if (config.gp or config.r1) else 1.0
    return config.steps * config.batch_size * (1 + config.n_critic * penalty)


def run_parallel(sweep: Sweep, jobs: int, *, echo: Echo) -> list[Outcome]:
    total = len(sweep.runs)
    numbers = {run.name: i for i, run in enumerate(sweep.runs, 1)}
    outcomes: dict[str, Outcome] = {}
    pending: list[PlannedRun] = []
    for run in sweep.runs:  # finished and broken runs are reported here without starting a process
        try:
            done = run_status(run, sweep.evaluation).action == DONE
        except GanforgeError as exc:
            outcome = Outcome(run.name, "failed", error=str(exc))
            append_summary(sweep, run, outcome)
            echo(f"[{numbers[run.name]}/{total}] {run.name}: {describe(outcome)}")
            outcomes[run.name] = outcome
            continue
        if done:
            outcome = Outcome(run.name, "skipped", DONE, steps=run.config.steps,
                              train_seconds=trained_seconds(run), metrics=final_metrics(run))
            append_summary(sweep, run, outcome)
            echo(f"[{numbers[run.name]}/{total}] {run.name}: {describe(outcome)}")
            outcomes[run.name] = outcome
        else:
            pending.append(run)
    pending.sort(key=estimated_cost, reverse=True)  # longest first: the last worker idles least
    (sweep.out / LOG_FOLDER).mkdir(parents=True, exist_ok=True)
    summary = sweep.out / SUMMARY_FILE
    active: dict[str, tuple[subprocess.Popen[bytes], PlannedRun, int]] = {}
    stop: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.append(signum)
        for process, _, _ in active.values():
            process.send_signal(signal.SIGTERM)  # each worker checkpoints and exits

    with signal_handler(handler):
        while (pending and not stop) or active:
            while pending and len(active) < jobs and not stop:
                run = pending.pop(0)
                since = summary.stat().st_size if summary.exists() else 0
                with open(sweep.out / LOG_FOLDER / f"{run.name}.log", "a") as log:  # kept across launches
                    process = subprocess.Popen(worker_command(sweep, run), stdout=log, stderr=subprocess.STDOUT,
                                               env=worker_env(jobs))
                active[run.name] = (process, run, since)
                echo(f"[{numbers[run.name]}/{total}] {run.name}: started (pid {process.pid}, log "
                     f"{sweep.out / LOG_FOLDER / (run.name + '.log')})")
            time.sleep(0.2)
            for name, (process, run, since) in list(active.items()):
                if process.poll() is None:
                    continue
                del active[name]
                result = last_outcome(sweep, name, since)
                if result is None:  # the worker died without a word (killed, crashed at start-up)
                    result = Outcome(name, "failed", error=f"worker exited with code {process.returncode}; "
                                                           f"see {sweep.out / LOG_FOLDER / (name + '.log')}")
                    append_summary(sweep, run, result)
                outcomes[name] = result
                echo(f"[{numbers[name]}/{total}] {name}: {describe(result)}")
    if stop:
        raise SweepInterrupted(sweep, stop[0], "(running runs checkpointed)")
    return [outcomes[run.name] for run in sweep.runs if run.name in outcomes]


def run_sweep(sweep: Sweep, *, jobs: int = 1, progress: bool = False, echo: Echo = print,
              worker: bool = False) -> list[Outcome]:
    """Run every run of ``sweep`` that is not done yet; returns one outcome per run."""
    if jobs < 1:
        raise GanforgeError(f"--jobs must be a positive whole number, got {jobs}")
    if worker:
        return run_sequential(sweep, progress=progress, echo=echo, numbered=False)
    write_index(sweep)
    if jobs == 1 or len(sweep.runs) == 1:
        return run_sequential(sweep, progress=progress, echo=echo)
    return run_parallel(sweep, jobs, echo=echo)
