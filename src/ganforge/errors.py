"""User-facing errors.

Anything a user can cause (a wrong name, a missing file, a bad number) is raised as
:class:`GanforgeError` with a one-line message that says what is wrong and how to fix it.
The CLI prints it without a traceback and exits non-zero.
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class GanforgeError(Exception):
    """An error caused by input; its message is shown to the user as is, on one line: line breaks in
    text it quotes (a value, a path, a library's message) become spaces."""

    exit_code = 2

    def __init__(self, message: object = "") -> None:
        super().__init__(" ".join(str(message).splitlines()))


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The valid choice closest to a misspelled ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix for error messages, empty when nothing is close."""
    match = closest(name, choices)
    return f" (did you mean '{match}'?)" if match else ""


# errno -> what to do about it, for OS errors on a path the user chose (a run folder, --out, --config).
_OS_ERROR_FIXES: dict[int, str] = {
    errno.EACCES: "permission denied; check the folder's permissions or choose another path",
    errno.EPERM: "operation not permitted; check the folder's permissions or choose another path",
    errno.EROFS: "the filesystem is read-only; choose a folder on a writable disk",
    errno.ENOSPC: "no space left on the device; free some space or choose a folder on another disk",
    errno.EDQUOT: "disk quota exceeded; free some space or choose a folder on another disk",
    errno.ENOENT: "it does not exist; check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.EISDIR: "it is a folder; give a file path",
    errno.EEXIST: "it already exists; remove it or choose another path",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) and try again",
}


def os_error_message(exc: OSError, path: str | os.PathLike[str] | None = None) -> str:
    """One line naming the path and the fix for an OS error (permission, read-only, no space, missing...)."""
    where = path if path is not None else (exc.filename if exc.filename is not None else "a file")
    fix = _OS_ERROR_FIXES.get(exc.errno or -1) or f"{exc.strerror or exc}; check the path"
    return f"cannot use {os.fspath(where) if not isinstance(where, str) else where}: {fix}"


class PathError(GanforgeError):
    """An OS error on a user path, as one line; ``errno`` keeps the cause (ENOSPC, EROFS, ...)."""

    def __init__(self, exc: OSError, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(os_error_message(exc, path))
        self.errno = exc.errno


@contextmanager
def user_path(path: str | os.PathLike[str] | None = None) -> Iterator[None]:
    """Any OSError inside the block becomes a one-line :class:`PathError` naming ``path`` (default: the
    file the error names). Used around every write of user-facing files, and by the CLI's top level."""
    try:
        yield
    except GanforgeError:
        raise
    except OSError as exc:
        raise PathError(exc, path) from None
