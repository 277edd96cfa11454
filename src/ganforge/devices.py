"""Where a command computes: ``--device auto|cpu|cuda`` resolved once for every command, and ``--threads``."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterator
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


# -- busy cores -------------------------------------------------------------------------------------------
# torch's CPU threads spin-wait for each other: with a core taken by another process, two threads ran a
# tiny DCGAN at 2 steps/s where one thread ran 17 (30 on quiet cores). The 1-minute load average says
# how many cores other processes keep busy; it lags, so it is read only after a minute of training.
LOAD_WINDOW_S = 60.0


def busy_cores_warning(threads: int, cores: int, load: float) -> str | None:
    """The warning for ``threads`` torch threads on ``cores`` usable cores under a load average of
    ``load`` (this process's threads included), or None when the threads fit the free cores."""
    others = max(0.0, load - threads)  # a training process keeps each of its threads runnable
    free = cores - others
    if threads <= 1 or threads <= free + 0.5:
        return None
    fit = max(1, int(free + 0.5))
    return (f"other processes keep {others:.1f} of this machine's {cores} cores busy (load {load:.1f}) and "
            f"torch runs {threads} threads, which then wait on each other and can slow training several "
            f"times over; pass --threads {fit}")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on macOS
        return os.cpu_count() or 1


class BusyCoresWatch:
    """A training callback: once the run has trained a minute, warn (once) when torch's threads outnumber
    the cores other processes leave free. ``clock`` and ``read_load`` are for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 read_load: Callable[[], float] = lambda: os.getloadavg()[0]) -> None:
        self.clock, self.read_load = clock, read_load
        self.started = clock()
        self.done = False

    def on_step_end(self, trainer: object, step: int) -> None:
        if self.done or self.clock() - self.started < LOAD_WINDOW_S:
            return None
        self.done = True
        message = busy_cores_warning(torch.get_num_threads(), usable_cores(), self.read_load())
        if message is not None:
            warnings.warn(message, stacklevel=2)
        return None

    def on_train_end(self, trainer: object) -> None:
        return None
