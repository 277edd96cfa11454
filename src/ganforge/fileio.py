"""Atomic file writes: a crash or a kill never leaves a half-written artifact under the final name.

JSON-lines logs (metrics.jsonl) are the exception: they only grow, one appended line per record, and
their reader skips a last line cut short by a kill.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ganforge.errors import user_path

TEMP_SUFFIX = ".tmp"
# .<final name>.<writer pid>.<random>.tmp, as atomic_path names them
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems do not allow fsync on directories
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_prefix(target: Path) -> str:
    """Temp files carry their writer's pid, so a later start can tell an orphan from a live write."""
    return f".{target.name}.{os.getpid()}."


def _artifact_mode() -> int:
    """The permissions a plain open() gives a new file under the current umask (0644 under 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed over ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was. Any OS error (no space,
    read-only, permission) is a one-line :class:`~ganforge.errors.PathError` naming ``path``.
    """
    target = Path(path)
    with user_path(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=TEMP_SUFFIX, dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            yield tmp
            # after the writer: some (mkstemp, safetensors) create files 0600, artifacts get a plain open()'s mode
            os.chmod(tmp, _artifact_mode())
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        finally:
            tmp.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host. A zombie (exited, not yet reaped by its parent: a training
    process killed under a launcher that has not waited for it) has stopped writing, so it counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no procfs (macOS), or the process is gone since os.kill
        return False
    # "pid (comm) state ...": comm may hold spaces and parentheses, the state follows the last ')'
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def stale_temp_files(folder: Path | str) -> list[Path]:
    """Temp files of :func:`atomic_path` in ``folder`` whose writer is no longer running (a kill mid-write)."""
    stale = []
    for candidate in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        match = TEMP_NAME.match(candidate.name)
        if match and int(match["pid"]) != os.getpid() and not pid_alive(int(match["pid"])):
            stale.append(candidate)
    return sorted(stale)


def remove_stale_temp_files(*folders: Path | str) -> list[Path]:
    """Delete the orphans :func:`stale_temp_files` finds in each folder; returns what was removed."""
    removed = []
    for folder in folders:
        for path in stale_temp_files(folder):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def atomic_write_text(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write(path: Path | str, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp)`` on a temporary file next to ``path``, then move it over ``path`` (see atomic_path)."""
    with atomic_path(path) as tmp:
        write(tmp)


def append_jsonl(path: Path | str, record: dict[str, Any]) -> None:
    """One JSON object per line, appended and flushed: earlier records are never rewritten. The line is one
    short write, so lines of processes appending to one file never interleave (O_APPEND); values JSON
    cannot hold (paths) are written as text."""
    with user_path(path), open(path, "a") as handle:
        handle.write(json.dumps(record, default=str) + "\n")
        handle.flush()


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """Every JSON object of a JSON-lines file, in order; [] without the file. Damaged lines (a write cut
    short by a kill) and lines that are not objects are skipped."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
