"""Atomic file writes: a crash or a kill never leaves a half-written artifact under the final name.

JSON-lines logs (metrics.jsonl) are the exception: they only grow, one appended line per record, and
their reader skips a last line cut short by a kill.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems do not allow fsync on directories
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed over ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; artifacts should get the permissions a plain open() would give them.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


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
    with open(path, "a") as handle:
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
