"""Checkpoints: written atomically, read back with ``weights_only=True`` (no arbitrary pickles).

A periodic checkpoint (``step_XXXXXXX.pt``) is published from the new file *before* that file replaces
``last.pt``: a kill at any moment leaves either the previous ``last.pt`` with the step copy already on
disk, or both, never a step the schedule promised and nobody kept.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ganforge.checkpoints import read_checkpoint_state
from ganforge.errors import GanforgeError, user_path
from ganforge.fileio import atomic_path, remove_stale_temp_files
from ganforge.runfolder import RunFolder

# What TrainingRun and Trainer read back; a torch file without them is not a training checkpoint.
REQUIRED_KEYS = ("generator", "discriminator", "step", "opt_g", "opt_d", "noise_rng", "torch_rng",
                 "batches_drawn", "window", "elapsed")


def _publish_copy(source: Path, target: Path) -> None:
    """``target`` becomes a copy of ``source`` in one rename: a hard link (no extra disk) where supported."""
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError (ENOSPC, EIO...) behind an exception, following its context and cause."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def save_checkpoint(state: dict[str, Any], path: Path, *, copy_to: Path | None = None) -> None:
    """Write to a temp file, fsync, rename: a crash mid-write never leaves a broken checkpoint.

    ``copy_to`` (a periodic step file) is published from the finished temp file before the rename.
    torch.save writes through a Python file object so that a full disk is an OSError (ENOSPC, reported as
    one line naming the file) rather than the opaque RuntimeError of torch's own file writer.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            try:
                torch.save(state, handle)
            except RuntimeError as exc:  # torch's writer may fail on closing, after the OSError it met
                cause = _os_error_in(exc)
                if cause is None:
                    raise
                raise cause from None
            handle.flush()
            os.fsync(handle.fileno())
        if copy_to is not None:
            _publish_copy(tmp, copy_to)


def read_training_checkpoint(path: Path) -> dict[str, Any]:
    """Everything ``train --resume`` restores, read from ``path`` (no pickle code runs)."""
    if not path.is_file():
        raise GanforgeError(f"no checkpoint at {path}; start a new run without --resume")
    return read_checkpoint_state(path, REQUIRED_KEYS, kind="training checkpoint",
                                 fix="resume from a run folder's checkpoints/last.pt")


class RunCheckpoints:
    """A run's checkpoints: checkpoints/last.pt with the generator files beside it in the run folder,
    a step_XXXXXXX.pt copy every --checkpoint-every steps (the newest ``keep`` of them, 0 = all), and
    best.pt with a loadable best/ folder.

    ``write_generator(folder)`` writes generator.safetensors + generator.json into ``folder``.
    """

    def __init__(self, paths: RunFolder, write_generator: Callable[[Path], None], keep: int = 0) -> None:
        self.paths, self.write_generator, self.keep = paths, write_generator, keep

    def save_last(self, state: dict[str, Any], *, periodic: bool = False) -> None:
        """last.pt (and, when ``periodic``, the step file of ``state['step']`` first), then the generator."""
        copy_to = self.paths.step_checkpoint(int(state["step"])) if periodic else None
        save_checkpoint(state, self.paths.last_checkpoint, copy_to=copy_to)
        self.write_generator(self.paths.root)
        if periodic:
            self.prune()

    def prune(self) -> list[Path]:
        """Delete all but the newest ``keep`` step files (nothing when keep is 0); returns what went."""
        if not self.keep:
            return []
        old = [path for _, path in self.paths.step_checkpoints()][:-self.keep]
        for path in old:
            with user_path(path):
                path.unlink(missing_ok=True)
        return old

    def save_best(self, state: dict[str, Any]) -> None:
        save_checkpoint(state, self.paths.best_checkpoint)
        self.write_generator(self.paths.best)

    def remove_orphans(self) -> list[Path]:
        """Temp files a killed writer left in the run folder (never those of a live process)."""
        folders = [self.paths.root, self.paths.checkpoints, self.paths.samples, self.paths.best]
        return remove_stale_temp_files(*(folder for folder in folders if folder.is_dir()))
