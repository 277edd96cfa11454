"""The study's trial budget and retries, kept in the storage itself so that any number of workers agree.

- *Originals* are trials Optuna created (not retries). The study runs ``n_trials`` of them: the first
  ``n_trials`` by trial number (numbers are handed out atomically by the storage). A worker that created
  one past the budget (two workers saw one slot left at the same moment) marks it ``surplus`` and fails
  it at once, before training anything.
- A failed trial is retried by enqueueing a copy (same parameters, same system attributes as Optuna's
  ``RetryHeartbeatStaleTrialCallback`` writes, so ``retried_trial_number`` names the original); the copy
  trains in the original's run folders, so it resumes from their checkpoints. ``retries`` bounds the
  retries of trials that failed or whose worker died; a trial stopped on request (Ctrl-C, SIGTERM) is
  queued again without using one.
- A worker that died (SIGKILL, a crash) leaves its trial RUNNING: a worker on the same machine sees that
  the process is gone and fails it at once; elsewhere the heartbeat does it after its grace period.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

ORIGINAL_KEY, HISTORY_KEY = "failed_trial", "retry_history"  # Optuna's retry bookkeeping
FREE_RETRIES_KEY = "ganforge:requeued_on_request"  # system attr: stops on request in the history
WORKER = "worker"  # user attr: {"host", "pid"} of the process running the trial
SURPLUS = "surplus"  # user attr: created past the budget, never run
NO_RETRY = "no_retry"  # user attr: a failure a retry cannot change
ERROR = "error"  # user attr: why the trial failed
ATTEMPT_ATTRS = (WORKER, SURPLUS, NO_RETRY, ERROR)  # about one attempt: not copied into a retry


def trial_state(name: str) -> Any:
    return TrialState[name]


def is_retry(trial: Any) -> bool:
    return ORIGINAL_KEY in trial.system_attrs


def original_number(trial: Any) -> int:
    """The number of the trial this one retries (its own number when it is not a retry)."""
    return int(trial.system_attrs.get(ORIGINAL_KEY, trial.number))


def originals(trials: Iterable[Any]) -> list[Any]:
    return sorted((t for t in trials if not is_retry(t)), key=lambda t: t.number)


def counted_retries(trial: Any) -> int:
    return len(trial.system_attrs.get(HISTORY_KEY, [])) - int(trial.system_attrs.get(FREE_RETRIES_KEY, 0))


def requeue(study: Any, trial: Any, retries: int, *, counted: bool = True) -> bool:
    """Enqueue a retry of ``trial`` (a FrozenTrial) unless its retries are used up; whether it was."""
    system = {ORIGINAL_KEY: trial.number, HISTORY_KEY: [], **trial.system_attrs}
    system[HISTORY_KEY] = [*system[HISTORY_KEY], trial.number]
    if not counted:
        system[FREE_RETRIES_KEY] = int(system.get(FREE_RETRIES_KEY, 0)) + 1
    if counted and len(system[HISTORY_KEY]) - int(system.get(FREE_RETRIES_KEY, 0)) > retries:
        return False
    user = {k: v for k, v in trial.user_attrs.items() if k not in ATTEMPT_ATTRS}
    study.add_trial(optuna.create_trial(state=trial_state("WAITING"), params=trial.params,
                                        distributions=trial.distributions, user_attrs=user, system_attrs=system,
                                        intermediate_values=trial.intermediate_values))
    return True


def repeated_trial(trials: Iterable[Any], number: int, params: dict[str, Any]) -> int | None:
    """The number of another trial holding exactly ``params``, if any."""
    return next((t.number for t in trials if t.number != number and t.params and t.params == params), None)


def is_surplus(trials: Iterable[Any], trial_number: int, n_trials: int) -> bool:
    """Whether the original trial ``trial_number`` lies past the budget of ``n_trials`` originals."""
    earlier = [t for t in originals(trials) if t.number < trial_number]
    return len(earlier) >= n_trials


def work_left(trials: list[Any], n_trials: int) -> bool:
    """A retry is waiting, or fewer than ``n_trials`` originals exist."""
    waiting = trial_state("WAITING")
    return any(t.state == waiting for t in trials) or len(originals(trials)) < n_trials


def worker_identity() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process on this machine (a zombie, killed but not reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True
    return fields[0] != "Z"


def fail_dead_local_trials(study: Any, retries: int) -> list[int]:
    """Fail the RUNNING trials whose worker was a process of this machine that no longer exists, and
    queue their retries; returns their numbers."""
    me = socket.gethostname()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(trial_state("RUNNING"),)):
        owner = trial.user_attrs.get(WORKER) or {}
        pid = owner.get("pid")
        if owner.get("host") != me or not isinstance(pid, int) or pid == os.getpid() or process_alive(pid):
            continue
        try:
            study.tell(trial.number, state=trial_state("FAIL"))
        except Exception:  # another worker got there first
            continue
        requeue(study, trial, retries)
        failed.append(trial.number)
    return failed
