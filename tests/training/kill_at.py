"""``ganforge`` with a signal sent to itself at one chosen moment of a run; the fault tests launch it.

    python tests/training/kill_at.py MOMENT SIGNAL COUNT train --steps ...

MOMENT is ``config`` (config.yaml just written: the start-up window, before the first checkpoint),
``step-copy`` (a periodic step_XXXXXXX.pt just published, its last.pt not yet renamed into place) or
``finish`` (the last checkpoint and the final grid written, progress.gif and the curves not yet). The
COUNT-th time the moment comes, SIGNAL (``KILL``, ``TERM``, ``INT``) is sent. Not a test module.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import ganforge.training.checkpoint as checkpoint
import ganforge.training.run as run
from ganforge.cli import main
from ganforge.training.loggers import SampleGrids


def at(function: Callable[..., Any], signum: int, count: int, before: bool) -> Callable[..., Any]:
    calls = [0]

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if before and calls[0] == count:
            os.kill(os.getpid(), signum)
        result = function(*args, **kwargs)
        if not before and calls[0] == count:
            os.kill(os.getpid(), signum)
        return result

    return wrapped


# moment -> (owner, attribute, signal before the call rather than after it)
MOMENTS = {"config": (run, "dump_config", False), "step-copy": (checkpoint, "_publish_copy", False),
           "finish": (SampleGrids, "finish", True)}

if __name__ == "__main__":
    moment, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    owner, attribute, before = MOMENTS[moment]
    setattr(owner, attribute, at(getattr(owner, attribute), signal.Signals[f"SIG{name}"], count, before))
    raise SystemExit(main(sys.argv[4:]))
