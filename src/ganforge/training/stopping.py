"""Ctrl-C / SIGTERM: during start-up they end the run at once with one line; once training, they are a
flag the loop checks between steps, so the run stops with a checkpoint on disk."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from ganforge.errors import GanforgeError
from ganforge.runfolder import RunFolder

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(GanforgeError):
    """Raised after a clean stop on Ctrl-C / SIGTERM, once the checkpoint is on disk."""

    def __init__(self, step: int, run_dir: Path, signum: int) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name} at step {step}; checkpoint saved in {RunFolder(run_dir).checkpoints}; "
                         f"resume with: ganforge train --run-dir {run_dir} --resume")
        self.exit_code = 128 + signum


class StartupInterrupted(GanforgeError):
    """Ctrl-C / SIGTERM before training began: nothing to save; the folder is reused by the same command."""

    def __init__(self, signum: int, run_dir: Path | None) -> None:
        name = signal.Signals(signum).name
        where = f" {run_dir}" if run_dir else ""
        super().__init__(f"stopped by {name} during start-up, before training began; run the same command "
                         f"again: the run folder{where} is reused as long as it holds no checkpoint "
                         "(with one, add --resume)")
        self.exit_code = 128 + signum


class StopSignals:
    """What SIGINT / SIGTERM do to this run: raise :class:`StartupInterrupted` until ``training`` is set,
    then only record the signal in ``received`` for the loop to act on between steps."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.training = False
        self.run_dir: Path | None = None  # named in the start-up message once known

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.training:
            raise StartupInterrupted(signum, self.run_dir)
        self.received.append(signum)


@contextmanager
def handle_signals(signals: StopSignals) -> Iterator[StopSignals]:
    """Install ``signals`` for SIGINT and SIGTERM for the block (main thread only: elsewhere Python
    cannot install handlers, and the caller's own handling stays in place)."""
    if threading.current_thread() is not threading.main_thread():
        yield signals
        return
    previous = {sig: signal.signal(sig, signals.handle) for sig in SIGNALS}
    try:
        yield signals
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
