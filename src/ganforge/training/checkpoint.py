"""Checkpoints: written atomically, read back with ``weights_only=True`` (no arbitrary pickles)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_path
from ganforge.training.rundir import RunPaths


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write to a temp file, fsync, rename: a crash mid-write never leaves a broken checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def link_or_copy(source: Path, target: Path) -> None:
    """Keep a periodic copy of a checkpoint; a hard link costs no extra disk where supported."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        with atomic_path(target) as tmp:
            tmp.write_bytes(source.read_bytes())


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise GanforgeError(f"no checkpoint at {path}; start a new run without --resume")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for corrupt files
        raise GanforgeError(f"checkpoint {path} cannot be read ({type(exc).__name__}); "
                            "it is corrupt or not a ganforge checkpoint") from None


class RunCheckpoints:
    """A run's checkpoints: checkpoints/last.pt with the generator files beside it in the run folder,
    a step_XXXXXXX.pt copy every --checkpoint-every steps, and best.pt with a loadable best/ folder.

    ``write_generator(folder)`` writes generator.safetensors + generator.json into ``folder``.
    """

    def __init__(self, paths: RunPaths, write_generator: Callable[[Path], None]) -> None:
        self.paths, self.write_generator = paths, write_generator

    def save_last(self, state: dict[str, Any]) -> None:
        save_checkpoint(state, self.paths.last_checkpoint)
        self.write_generator(self.paths.root)

    def keep_step(self, step: int) -> None:
        link_or_copy(self.paths.last_checkpoint, self.paths.step_checkpoint(step))

    def save_best(self, state: dict[str, Any]) -> None:
        save_checkpoint(state, self.paths.checkpoints / "best.pt")
        self.write_generator(self.paths.root / "best")
