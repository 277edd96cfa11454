"""The run folder: every artifact of a training run in one place, named by contract, and its lock.

One process writes a run folder at a time: the writer holds ``.ganforge.lock`` (an ``flock`` plus a record
of its pid and host). A second writer is refused with one line naming the holder; the record of a dead
process on this host is taken over. Readers (evaluate, generate, export, serve) ask :func:`live_writer`
whether the run is still training, and say which step they read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ganforge.config import CONFIG_FILE
from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write_text, pid_alive

LOCK_FILE = ".ganforge.lock"  # a dot file: never_started and the run listings skip it


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tb"

    @property
    def progress_gif(self) -> Path:
        return self.root / "progress.gif"

    @property
    def loss_curves(self) -> Path:
        return self.root / "loss_curves.png"

    @property
    def augment_p_curve(self) -> Path:
        """ADA's p against step (--augment ada)."""
        return self.root / "augment_p.png"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def trackers(self) -> Path:
        """Run ids at the experiment trackers (MLflow, W&B), so a resumed run re-attaches to them."""
        return self.root / "trackers.json"

    @property
    def mlflow_store(self) -> Path:
        """MLflow's local tracking store, used when MLFLOW_TRACKING_URI names no other."""
        return self.root / "mlruns"

    @property
    def final_samples(self) -> Path:
        return self.samples / "final.png"

    @property
    def finished_marker(self) -> Path:
        """checkpoints/finished.json: {"step": N} once the launch that reached step N wrote every artifact."""
        return self.checkpoints / "finished.json"

    def is_finished(self, step: int) -> bool:
        """Whether the run's launch that reached ``step`` got to its very end: the marker, written after
        every finished artifact (final grid, GIF, curves), names that step. A kill anywhere before that
        leaves the end still to do, and ``--resume`` does it."""
        try:
            document = json.loads(self.finished_marker.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(document, dict) and document.get("step") == step

    def mark_finished(self, step: int) -> None:
        atomic_write_text(self.finished_marker, json.dumps({"step": step}) + "\n")

    def sample_grid(self, step: int) -> Path:
        return self.samples / f"step_{step:07d}.png"

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:07d}.pt"


def default_run_dir(model: str, data: str, base: Path = Path("runs")) -> Path:
    safe_data = re.sub(r"[^A-Za-z0-9_.-]+", "_", data).strip("_")[:40]
    return base / f"{model}-{safe_data}-{time.strftime('%Y%m%d-%H%M%S')}"


# What a start-up writes before its first checkpoint; a folder holding nothing else, with no checkpoint and
# no sample grid, was left by a start that never trained (a kill, a failed --eval-every set-up).
STARTUP_ENTRIES = frozenset({CONFIG_FILE, "history.csv", "tb", "samples", "checkpoints", "trackers.json",
                             "mlruns", "wandb"})
STARTUP_LEFTOVERS = ("history.csv", "tb")  # redone by the next start; config.yaml is rewritten


def never_started(root: Path) -> bool:
    """Whether ``root`` is a run folder whose start-up stopped before the first checkpoint: it has the
    config.yaml ganforge writes and only start-up files, no checkpoint and no sample grid. Such a folder
    is not "a run": the same command starts it again without --overwrite."""
    paths = RunPaths(root)
    if not paths.config.is_file():
        return False
    try:
        entries = {child.name for child in root.iterdir() if not child.name.startswith(".")}
    except OSError:
        return False
    if not entries <= STARTUP_ENTRIES:
        return False
    checkpoints = paths.checkpoints.is_dir() and any(paths.checkpoints.glob("*.pt"))
    samples = paths.samples.is_dir() and any(paths.samples.glob("*.png"))
    return not checkpoints and not samples


def clear_startup_leftovers(root: Path) -> None:
    """Remove what an interrupted start-up wrote and the next start writes again (history, TensorBoard)."""
    for name in STARTUP_LEFTOVERS:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def check_run_dir(root: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber work: validate the folder for a new, resumed or overwritten run; change nothing."""
    paths = RunPaths(root)
    if resume and overwrite:
        raise GanforgeError("--resume and --overwrite contradict each other; pass one of them")
    holder = live_writer(root)
    if holder is not None:
        raise busy_error(root, holder)
    if resume:
        if never_started(root):
            raise GanforgeError(f"cannot resume {root}: its start-up stopped before the first checkpoint, so "
                                "there is nothing to continue; run the same command without --resume to "
                                "start it (the folder is reused)")
        if not paths.last_checkpoint.is_file():
            raise GanforgeError(f"cannot resume: {paths.last_checkpoint} does not exist; "
                                "start a new run (drop --resume)")
        return
    if root.exists() and not root.is_dir():
        raise GanforgeError(f"run folder {root} is a file; choose another --run-dir")
    if root.is_dir() and any(c.name != LOCK_FILE for c in root.iterdir()) and not never_started(root):
        if not overwrite:
            raise GanforgeError(f"run folder {root} already exists and is not empty; pass --resume to "
                                "continue it, --overwrite to replace it, or another --run-dir")
        if not paths.config.is_file():
            raise GanforgeError(f"refusing to --overwrite {root}: it has no config.yaml, so it is not a "
                                "ganforge run folder; choose another --run-dir")


def clear_run_dir(root: Path) -> None:
    """Empty a run folder that check_run_dir accepted for --overwrite (its lock, held by us, stays)."""
    for child in root.iterdir():
        if child.name == LOCK_FILE:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


# -- the lock: one writer per run folder -------------------------------------------------------------------
@dataclass(frozen=True)
class LockHolder:
    """The process that writes a run folder, as its lock file records it."""

    pid: int
    host: str
    since: str = ""

    @classmethod
    def this_process(cls) -> LockHolder:
        return cls(os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%dT%H:%M:%S"))

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}" + (f", since {self.since}" if self.since else "")


def parse_holder(text: str) -> LockHolder | None:
    """The record of a lock file; None for an empty (released) or unreadable one."""
    try:
        document = json.loads(text) if text.strip() else None
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("pid"), int) \
            or not isinstance(document.get("host"), str):
        return None
    return LockHolder(document["pid"], document["host"], str(document.get("since", "")))


def holder_is_live(holder: LockHolder, host: str) -> bool:
    """Whether the holder may still be writing: on this ``host``, its pid runs; another host's process
    cannot be checked from here, so it counts as live."""
    return holder.host != host or pid_alive(holder.pid)


def read_holder(root: Path) -> LockHolder | None:
    try:
        return parse_holder((Path(root) / LOCK_FILE).read_text())
    except OSError:
        return None


def live_writer(root: Path) -> LockHolder | None:
    """The process training in ``root`` now, or None (never trained, finished, or its writer died)."""
    holder = read_holder(root)
    return holder if holder is not None and holder_is_live(holder, socket.gethostname()) else None


def busy_error(root: Path, holder: LockHolder | None) -> GanforgeError:
    who = holder.describe() if holder is not None else "another process"
    other_host = holder is not None and holder.host != socket.gethostname()
    hint = (f"if that run is gone, delete {Path(root) / LOCK_FILE}" if other_host
            else "wait for it to finish, stop it (Ctrl-C, or kill its pid), or choose another --run-dir")
    return GanforgeError(f"run folder {root} is being written by {who}; {hint}")


class RunLock:
    """The writer's lock of one run folder: ``acquire()`` or a one-line error naming the holder.

    ``flock`` makes taking the lock atomic and is dropped by the kernel when its process dies; the record
    (pid, host) names the holder for others. A record whose process is gone (same host) is taken over,
    also when a forked child of the dead writer still holds the ``flock``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        host = socket.gethostname()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = read_holder(self.root)
                if holder is None or holder_is_live(holder, host):
                    raise busy_error(self.root, holder) from None
            holder = read_holder(self.root)
            if holder is not None and holder.host != host:  # a shared filesystem: that host's run may be live
                raise busy_error(self.root, holder)
            record = LockHolder.this_process()
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(vars(record)) + "\n").encode(), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Empty the record and drop the lock; the file stays (unlinking it would let a waiting writer lock
        a file nobody else sees)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing drops the flock

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
