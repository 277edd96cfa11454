"""Workers: Optuna's optimize loop over a :class:`StudyPlan`, in this process or in N local processes.

Every worker (``--jobs N`` here, or ``ganforge tune`` on other machines against one ``--storage``) runs
trials until the study's budget is spent (:mod:`ganforge.tune.queue`); Ctrl-C or SIGTERM lets the running
trial's training checkpoint, queues that trial again and stops: running the same command continues.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from optuna import TrialPruned
from optuna.storages import fail_stale_trials

from ganforge.errors import GanforgeError
from ganforge.training import TrainingInterrupted
from ganforge.tune import queue
from ganforge.tune.plan import StudyPlan
from ganforge.tune.storage import STORAGE_ENV, open_study, shown_url
from ganforge.tune.trial import NotRetried, ObjectiveUndefined, execute_trial

Echo = Callable[[str], None]


class TrialFailed(Exception):
    """A trial that failed; the worker records it and goes on with the next one."""


class StudyInterrupted(GanforgeError):
    """A stop on request; the exit code is the shell's for that signal."""

    def __init__(self, plan: StudyPlan, signum: int, where: str) -> None:
        self.exit_code = 128 + signum
        stopped = f"{plan.kind} {plan.name} stopped by {signal.Signals(signum).name} {where}"
        super().__init__(f"{stopped}; run the same command again to continue (finished trials are kept, the "
                         "interrupted one resumes)")


@dataclass(frozen=True)
class Counts:
    complete: int
    pruned: int
    failed: int
    running: int

    @property
    def finished(self) -> int:
        return self.complete + self.pruned


def counts(trials: list[Any]) -> Counts:
    state = queue.trial_state
    done = [t for t in trials if not t.user_attrs.get(queue.SURPLUS)]
    # a failed trial counts as failed only when no retry of it finished
    settled = {queue.original_number(t) for t in done if t.state in (state("COMPLETE"), state("PRUNED"))}
    failed = {queue.original_number(t) for t in done if t.state == state("FAIL")} - settled
    failed -= {queue.original_number(t) for t in done if t.state in (state("WAITING"), state("RUNNING"))}
    return Counts(sum(t.state == state("COMPLETE") for t in done), sum(t.state == state("PRUNED") for t in done),
                  len(failed), sum(t.state == state("RUNNING") for t in done))


@contextmanager
def signal_handler(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` for SIGINT and SIGTERM while the block runs (training installs its own meanwhile);
    outside the main thread, where Python cannot install handlers, the process keeps its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def repeat_note(trials: list[Any], number: int, params: dict[str, Any]) -> str | None:
    """What to say when new trial ``number`` holds another trial's parameters: its sampler found no
    untried configuration (a small space of choices, nearly used up). A retry repeats on purpose."""
    frozen = next(t for t in trials if t.number == number)
    same = None if queue.is_retry(frozen) else queue.repeated_trial(trials, number, params)
    if same is None:
        return None
    return (f"trial {number} repeats the parameters of trial {same}: no untried configuration found (the "
            "search space may be used up)")


class Worker:
    def __init__(self, plan: StudyPlan, url: str, *, progress: bool = False, echo: Echo = print) -> None:
        self.plan, self.url, self.progress, self.echo = plan, url, progress, echo
        self.current = ""  # "during trial N" while a trial runs
        self.last = ""  # the same for the trial that ran last
        self.signals: list[int] = []
        self.study = open_study(plan, url, on_stale=self.stale)

    def on_signal(self, signum: int, frame: Any) -> None:
        """Inside a trial (outside its training, which checkpoints first) stop at once: an evaluation or a
        dataset load cut short is redone next time. Between trials, let the loop end before the next."""
        self.signals.append(signum)
        if self.current:
            raise StudyInterrupted(self.plan, signum, self.current)
        try:
            self.study.stop()
        except RuntimeError:  # not in the optimize loop yet
            raise StudyInterrupted(self.plan, signum, "before the first trial") from None

    def stale(self, study: Any, trial: Any) -> None:
        """A trial whose worker stopped sending heartbeats (Optuna has just failed it)."""
        retried = queue.requeue(study, trial, self.plan.retries)
        self.echo(f"trial {trial.number}: its worker stopped responding" + ("; queued again" if retried else ""))

    def objective(self, trial: Any) -> float:
        trial.set_user_attr(queue.WORKER, queue.worker_identity())
        trials = self.study.get_trials(deepcopy=False)
        if not queue.is_retry(next(t for t in trials if t.number == trial.number)) and \
                queue.is_surplus(trials, trial.number, self.plan.n_trials):
            trial.set_user_attr(queue.SURPLUS, True)
            raise TrialFailed("the study had all its trials already")
        self.current = f"during trial {trial.number}"
        try:
            if self.signals:  # a stop that came while Optuna was creating this trial
                raise StudyInterrupted(self.plan, self.signals[0], self.current)
            try:
                runs = self.plan.trial_runs(trial)
            except GanforgeError as exc:  # the sampled values make no valid config: so they will again
                raise NotRetried(str(exc)) from None
            self.current = self.last = f"during {runs.name or f'trial {trial.number}'}"
            self.note_repeat(trials, trial)
            return execute_trial(self.plan, trial, runs, progress=self.progress, echo=self.echo)
        except TrialPruned as exc:
            self.echo(f"trial {trial.number}: {exc}")
            raise
        except ObjectiveUndefined as exc:  # pruned rather than failed: samplers learn from pruned trials
            self.echo(f"trial {trial.number}: pruned at the end: {exc}")
            raise TrialPruned(str(exc)) from None
        except (TrainingInterrupted, StudyInterrupted, KeyboardInterrupt):
            frozen = next(t for t in self.study.get_trials(deepcopy=False) if t.number == trial.number)
            queue.requeue(self.study, frozen, self.plan.retries, counted=False)
            raise
        except NotRetried as exc:
            trial.set_user_attr(queue.NO_RETRY, True)
            trial.set_user_attr(queue.ERROR, str(exc))
            raise TrialFailed(str(exc)) from None
        except Exception as exc:  # one broken trial must not cost the others
            if not isinstance(exc, GanforgeError):
                traceback.print_exc()
            message = str(exc) if isinstance(exc, GanforgeError) else f"{type(exc).__name__}: {exc}"
            trial.set_user_attr(queue.ERROR, message)
            raise TrialFailed(message) from None
        finally:
            self.current = ""

    def note_repeat(self, trials: list[Any], trial: Any) -> None:
        note = repeat_note(trials, trial.number, trial.params)
        if note:
            self.echo(note)

    def after_trial(self, study: Any, trial: Any) -> None:
        if trial.user_attrs.get(queue.SURPLUS):
            pass
        elif trial.state == queue.trial_state("FAIL"):
            retried = not trial.user_attrs.get(queue.NO_RETRY) and queue.requeue(study, trial, self.plan.retries)
            used = queue.counted_retries(trial) + 1
            self.echo(f"trial {trial.number} failed: {trial.user_attrs.get(queue.ERROR, '?')}"
                      + (f"; retry {used}/{self.plan.retries} queued" if retried else "; not retried"))
        if not self.has_work():
            study.stop()

    def fail_dead_trials(self) -> None:
        """Trials whose worker is gone: a process of this machine that no longer exists (at once), or a
        worker anywhere whose heartbeat stopped (after the grace period); both are queued again."""
        for number in queue.fail_dead_local_trials(self.study, self.plan.retries):
            self.echo(f"trial {number}: its worker process is gone; marked failed and queued again")
        fail_stale_trials(self.study)  # calls self.stale for each

    def has_work(self) -> bool:
        """Whether this worker should start another trial (after failing the trials of dead workers)."""
        self.fail_dead_trials()
        return queue.work_left(self.study.get_trials(deepcopy=False), self.plan.n_trials)

    def run(self) -> None:
        with signal_handler(self.on_signal):
            if not self.has_work():
                return
            try:
                self.study.optimize(self.objective, callbacks=[self.after_trial], catch=(TrialFailed,),
                                    gc_after_trial=False)
            except TrainingInterrupted as exc:
                raise StudyInterrupted(self.plan, exc.exit_code - 128,
                                       f"{self.last} (checkpoint saved)") from None
        if self.signals:
            raise StudyInterrupted(self.plan, self.signals[0], "between trials")

    def trials(self) -> list[Any]:
        return self.study.get_trials(deepcopy=False)


# -- N local processes --------------------------------------------------------------------------------

def worker_env(jobs: int, url: str) -> dict[str, str]:
    """Split the CPU between the workers instead of letting each start one thread per core; the storage
    URL travels in the environment, where its password does not show in the process list."""
    env = dict(os.environ, **{STORAGE_ENV: url}, PYTHONUNBUFFERED="1")
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env


def run_processes(plan: StudyPlan, url: str, jobs: int, command: list[str], echo: Echo) -> None:
    """Start ``jobs`` worker processes (``command`` + ``--worker K``) and wait; a stop reaches all of them."""
    if jobs < 1:
        raise GanforgeError(f"--jobs must be a positive whole number, got {jobs}")
    echo(f"{plan.kind} {plan.name}: {jobs} worker processes on {shown_url(url)}")
    processes = [subprocess.Popen([*command, "--worker", str(k)], env=worker_env(jobs, url))
                 for k in range(1, jobs + 1)]
    stop: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        stop.append(signum)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [process.wait() for process in processes]
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if stop:
        raise StudyInterrupted(plan, stop[0], "(running trials checkpointed)")
    failed = [(k, code) for k, code in enumerate(codes, 1) if code]
    if failed:
        raise GanforgeError(f"worker {failed[0][0]} of {plan.kind} {plan.name} exited with code {failed[0][1]} "
                            "(its error is above); run the same command again to continue")


def worker_prefix(worker: int) -> Callable[[str], str]:
    return (lambda line: f"[worker {worker}] {line}") if worker else (lambda line: line)


def main_command(kind: str, file: str, out: str) -> list[str]:
    return [sys.executable, "-m", "ganforge", kind, file, "--out", out, "--no-progress"]
