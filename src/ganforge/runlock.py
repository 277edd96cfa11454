"""The writer's lock of a run folder: one process writes a run folder at a time.

The writer holds ``.ganforge.lock`` (an ``flock`` plus a record of its pid and host). A second writer is
refused with one line naming the holder; the record of a dead process on this host is taken over. Readers
(evaluate, generate, export, serve) ask :func:`live_writer` whether the run is still training, and say
which step they read. Like :mod:`ganforge.runfolder`, whose ``RunFolder.lock`` names the file, it loads
no training code.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ganforge.errors import GanforgeError
from ganforge.fileio import pid_alive
from ganforge.runfolder import RunFolder


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
        return parse_holder(RunFolder(Path(root)).lock.read_text())
    except OSError:
        return None


def live_writer(root: Path) -> LockHolder | None:
    """The process training in ``root`` now, or None (never trained, finished, or its writer died)."""
    holder = read_holder(root)
    return holder if holder is not None and holder_is_live(holder, socket.gethostname()) else None


def busy_error(root: Path, holder: LockHolder | None) -> GanforgeError:
    who = holder.describe() if holder is not None else "another process"
    other_host = holder is not None and holder.host != socket.gethostname()
    hint = (f"if that run is gone, delete {RunFolder(Path(root)).lock}" if other_host
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
        self.path = RunFolder(self.root).lock
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
