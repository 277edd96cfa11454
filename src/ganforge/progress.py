"""Every progress bar of ganforge: a tqdm bar on a terminal, tqdm's widget bar in a Jupyter notebook (with
ipywidgets), one plain line every few seconds elsewhere.

Written to a file or a pipe (``ganforge train > log 2>&1``, a batch job, a sweep's log), a tqdm bar is a
stream of ``\\r`` frames in one ever-growing line. :func:`progress_bar` gives the same calls
(``update``, ``set_postfix``, ``close``) and, off a terminal, prints a complete line -- position, rate,
ETA and the latest values -- at most every :data:`PLAIN_INTERVAL_S` seconds and once at the end.
``enabled=False`` (``--no-progress``) prints nothing.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Protocol, TextIO, cast

from tqdm import tqdm

PLAIN_INTERVAL_S = 10.0
INTERVAL_ENV = "GANFORGE_PROGRESS_SECONDS"  # another interval for plain lines (tests, chatty CI logs)
_silenced = [False]  # --no-progress of the running command: every bar of the process, deep or not


def silence(quiet: bool = True) -> None:
    """Make every later :func:`progress_bar` of this process quiet (the CLI's ``--no-progress``), including
    the bars of work the command does not see, such as decoding a dataset."""
    _silenced[0] = quiet


def silent() -> bool:
    """Whether --no-progress quiets this process's progress output."""
    return _silenced[0]


@contextmanager
def silenced(quiet: bool = True) -> Iterator[None]:
    """:func:`silence` for the block; the previous setting comes back after it."""
    previous = _silenced[0]
    silence(quiet)
    try:
        yield
    finally:
        silence(previous)


class Progress(Protocol):
    def update(self, n: float = 1) -> Any: ...

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **values: Any) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Progress: ...

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> Any: ...


def interactive(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal, which redraws a bar in place."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython running under ipykernel, as tqdm.autonotebook
    tells); a terminal IPython or a process that merely imported ipykernel is not."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def notebook_widgets() -> bool:
    """Whether this is a Jupyter kernel that can draw tqdm's widget bar (ipywidgets installed); a kernel
    without ipywidgets gets plain lines, which a cell shows as they come."""
    if not in_notebook():
        return False
    return importlib.util.find_spec("ipywidgets") is not None


def plain_interval() -> float:
    raw = os.environ.get(INTERVAL_ENV)
    try:
        value = float(raw) if raw else PLAIN_INTERVAL_S
    except ValueError:
        value = PLAIN_INTERVAL_S
    return value if math.isfinite(value) and value >= 0 else PLAIN_INTERVAL_S


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class QuietProgress:
    """``--no-progress``: the calls of a bar, no output."""

    def update(self, n: float = 1) -> None:
        return None

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **values: Any) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> QuietProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PlainProgress(QuietProgress):
    """One complete line per interval: ``train: 120/1500 step (8%), 12.3 step/s, ETA 1m52s, loss_d=0.69``."""

    def __init__(self, *, total: float | None, desc: str, unit: str, initial: float, unit_scale: bool,
                 stream: TextIO, interval: float, leave: bool = True) -> None:
        self.total, self.desc, self.unit, self.unit_scale, self.leave = total, desc, unit, unit_scale, leave
        self.n = self.initial = initial
        self.stream, self.interval = stream, interval
        self.started = self.last_line = time.monotonic()
        self.printed_n: float | None = None
        self.values: dict[str, Any] = {}
        self.closed = False

    def _amount(self, value: float, rate: bool = False) -> str:
        if self.unit_scale:
            return tqdm.format_sizeof(value, divisor=1024)
        return f"{value:.3g}" if rate else f"{value:.0f}"

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (self.n - self.initial) / elapsed
        sep = "" if self.unit_scale else " "  # 3.00MB, but 120 step
        parts = [f"{self.desc}: {self._amount(self.n)}"]
        if self.total:
            parts[0] += f"/{self._amount(self.total)}{sep}{self.unit} ({100 * self.n / self.total:.0f}%)"
        else:
            parts[0] += f"{sep}{self.unit}"
        parts.append(f"{self._amount(rate, rate=True)}{sep}{self.unit}/s")
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"ETA {format_duration((self.total - self.n) / rate)}")
        elif self.n != self.initial:
            parts.append(f"{format_duration(elapsed)} elapsed")
        if self.values:
            parts.append(" ".join(f"{key}={value}" for key, value in self.values.items()))
        return ", ".join(parts)

    def _emit(self) -> None:
        self.stream.write(self.line() + "\n")
        self.stream.flush()
        self.last_line, self.printed_n = time.monotonic(), self.n

    def update(self, n: float = 1) -> None:
        self.n += n
        if time.monotonic() - self.last_line >= self.interval:
            self._emit()

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **values: Any) -> None:
        self.values = {**dict(ordered_dict or {}), **values}

    def close(self) -> None:
        """The final line; none for a transient bar (``leave=False``: the ones a terminal erases when done,
        such as decoding a dataset), which shows only lines of its own interval when it runs long."""
        if self.leave and not self.closed and self.n != self.printed_n and self.n != self.initial:
            self._emit()
        self.closed = True


def progress_bar(*, total: float | None, desc: str, unit: str = "it", enabled: bool = True, initial: float = 0,
                 leave: bool = True, unit_scale: bool = False, stream: TextIO | None = None) -> Progress:
    """The progress display for ``total`` units of work (see the module docstring)."""
    stream = stream if stream is not None else sys.stderr
    if not enabled or _silenced[0]:
        return QuietProgress()
    if notebook_widgets():  # the cell's bar, whatever stream a terminal bar would use
        from tqdm.notebook import tqdm as notebook_tqdm  # imports IPython and ipywidgets (the notebook extra)

        # its stubs type update(n) as int where tqdm's take a float: the same call at run time
        return cast(Progress, notebook_tqdm(total=total, initial=initial, desc=desc, unit=unit,
                                            unit_scale=unit_scale, unit_divisor=1024, leave=leave))
    if interactive(stream):
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, unit_scale=unit_scale,
                    unit_divisor=1024, leave=leave, dynamic_ncols=True, file=stream)
    return PlainProgress(total=total, desc=desc, unit=unit, initial=initial, unit_scale=unit_scale,
                         stream=stream, interval=plain_interval(), leave=leave)


# -- the duration of long work, said before it runs ---------------------------------------------------------
ESTIMATE_MIN_S = 30.0  # shorter work gets no estimate line (the bar's ETA is enough)


def duration_estimate(total: int, done: int, seconds: float) -> tuple[float, float] | None:
    """(rate in units/s, seconds left) for ``total`` units when ``done`` took ``seconds``; None when the
    measurement says nothing (no units, no time)."""
    if done <= 0 or seconds <= 0 or total <= done:
        return None
    rate = done / seconds
    return rate, (total - done) / rate


class StartEstimate:
    """One line saying how long ``total`` units will take, measured on the second batch (the first carries
    the start-up: weights moved, kernels chosen): ``features: generated: 10,000 img, about 22m13s at 7.5
    img/s``. ``after_batch(n)`` returns the line once, when the work is long enough to say so."""

    def __init__(self, total: int, desc: str, unit: str, clock: Callable[[], float] = time.perf_counter) -> None:
        self.total, self.desc, self.unit, self.clock = total, desc, unit, clock
        self.batches = self.done = 0
        self.started = clock()

    def after_batch(self, n: int) -> str | None:
        self.batches += 1
        self.done += n
        if self.batches == 1:
            self.started, self.first = self.clock(), self.done
            return None
        if self.batches > 2:
            return None
        estimate = duration_estimate(self.total - self.first, self.done - self.first, self.clock() - self.started)
        if estimate is None or estimate[1] < ESTIMATE_MIN_S:
            return None
        rate, left = estimate
        return (f"{self.desc}: {self.total:,} {self.unit}, about {format_duration(left)} at {rate:.3g} {self.unit}/s "
                "(measured on the first batches)")
