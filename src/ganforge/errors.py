"""User-facing errors.

Anything a user can cause (a wrong name, a missing file, a bad number) is raised as
:class:`GanforgeError` with a one-line message that says what is wrong and how to fix it.
The CLI prints it without a traceback and exits non-zero.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GanforgeError(Exception):
    """An error caused by input; its message is shown to the user as is."""

    exit_code = 2


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The valid choice closest to a misspelled ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix for error messages, empty when nothing is close."""
    match = closest(name, choices)
    return f" (did you mean '{match}'?)" if match else ""
