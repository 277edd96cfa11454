"""Which torch device a command runs on: ``--device auto|cpu|cuda`` resolved once, for every command."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ganforge.errors import GanforgeError

if TYPE_CHECKING:  # a runtime import would load the whole training package for `ganforge generate`
    from ganforge.training.distributed import DistInfo


def resolve_device(name: str, dist: DistInfo | None = None) -> torch.device:
    """The device ``name`` asks for; in a multi-process CUDA run, the GPU of this process's LOCAL_RANK."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("--device cuda was requested but no CUDA GPU is visible; use --device cpu or auto")
    if name == "cuda" and dist is not None and dist.enabled:
        if dist.local_rank >= torch.cuda.device_count():
            raise GanforgeError(f"LOCAL_RANK {dist.local_rank} has no GPU ({torch.cuda.device_count()} visible); "
                                "start at most one process per GPU (torchrun --nproc_per_node)")
        return torch.device("cuda", dist.local_rank)
    return torch.device(name)
