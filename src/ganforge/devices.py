"""Where a command computes: ``--device auto|cpu|cuda`` resolved once for every command, and ``--threads``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    try:
        return torch.device(name)
    except RuntimeError:
        raise GanforgeError(f"unknown --device '{name}'; use auto, cpu or cuda (or cuda:N)") from None


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """``--threads N`` (torch.set_num_threads) for the block; 0 or None leaves torch's own setting. The
    previous setting comes back afterwards, so a library caller's process is left as it was."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 0):
        raise GanforgeError(f"--threads must be 0 (torch's default) or a positive whole number, got {threads!r}")
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
