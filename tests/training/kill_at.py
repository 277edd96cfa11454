"""``ganforge`` with a signal sent to itself at one chosen moment of a run; the fault tests launch it.

    python tests/training/kill_at.py MOMENT SIGNAL COUNT train --steps ...

MOMENT is ``config`` (config.yaml just written: the start-up window, before the first checkpoint) or
``step-copy`` (a periodic step_XXXXXXX.pt just published, its last.pt not yet renamed into place). The
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


def after(function: Callable[..., Any], signum: int, count: int) -> Callable[..., Any]:
    calls = [0]

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        calls[0] += 1
        if calls[0] == count:
            os.kill(os.getpid(), signum)
        return result

    return wrapped


MOMENTS = {"config": (run, "dump_config"), "step-copy": (checkpoint, "_publish_copy")}

if __name__ == "__main__":
    moment, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    module, attribute = MOMENTS[moment]
    setattr(module, attribute, after(getattr(module, attribute), signal.Signals[f"SIG{name}"], count))
    raise SystemExit(main(sys.argv[4:]))
