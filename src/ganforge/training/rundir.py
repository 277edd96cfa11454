"""Where a training run starts: its default folder, and the checks before a run writes into a folder.

The folder's layout is :mod:`ganforge.runfolder`; its writer's lock is :mod:`ganforge.runlock`.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from ganforge.errors import GanforgeError
from ganforge.runfolder import LOCK_FILE, RunFolder, never_started
from ganforge.runlock import busy_error, live_writer


def default_run_dir(model: str, data: str, base: Path = Path("runs")) -> Path:
    safe_data = re.sub(r"[^A-Za-z0-9_.-]+", "_", data).strip("_")[:40]
    return base / f"{model}-{safe_data}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_run_dir(root: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber work: validate the folder for a new, resumed or overwritten run; change nothing."""
    paths = RunFolder(root)
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
