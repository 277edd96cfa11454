"""Checkpoints: written atomically, read back with ``weights_only=True`` (no arbitrary pickles)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_path


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
