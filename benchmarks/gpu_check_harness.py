"""The machinery of ``benchmarks/gpu_check.py``: plans, a deadline, commands in their own process group,
and a report that records every item (pass, fail, skipped, out-of-time) as it finishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gpu_check_assets import Assets

REPO = Path(__file__).resolve().parent.parent
MIN_START_S = 10.0  # an item is not started with less of the budget left
SECTIONS = ("environment", "speed", "inception", "smoke", "resume", "fid", "generate", "serve", "export",
            "torchrun", "memory")


@dataclass(frozen=True)
class Plan:
    """Sizes of one kind of check run: the full GPU run or the CPU dry run."""

    mode: str
    device: str
    steps: int  # generator steps of each smoke run (and of the resume comparison)
    log_every: int
    size_flags: tuple[str, ...]  # extra `ganforge train` flags (batch, width)
    matrix: tuple[tuple[str, str], ...]  # (model, variant) smoke runs
    resume_models: tuple[str, ...]
    resume_repeat: bool  # run each uninterrupted fp32 run twice to measure the nondeterminism floor
    speed_args: tuple[str, ...]
    speed_models: tuple[str, ...]
    speed_acceptance: tuple[str, int, float] | None  # (model, batch, fast/textbook at least)
    fid_images: int
    inception_batch: int
    inception_batches: int
    torchrun_steps: int
    workers: int
    budget_s: float
    timed_alone: bool  # run the speed items before the parallel ones (their numbers are the point)
    child_env: tuple[tuple[str, str], ...] = ()  # environment of every command

    @property
    def on_cuda(self) -> bool:
        return self.device == "cuda"


class Skip(Exception):
    """The item does not apply here (CPU dry run), or what it needs failed."""


class CommandFailed(Exception):
    """A command exited with an unexpected status or outlived its limit; keeps what it printed."""

    def __init__(self, message: str, stdout: str = "", stderr: str = "") -> None:
        super().__init__(message)
        self.stdout, self.stderr = stdout, stderr
        self.values: dict = {}  # what an item could still read from the output, recorded with the failure


class OutOfTime(CommandFailed):
    """Not started, or stopped, because the global time budget ran out."""


@dataclass
class Finished:
    cmd: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "no output"


def python_module(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


@dataclass
class Context:
    plan: Plan
    assets: Assets
    work: Path
    deadline: float

    def timeout(self, cap: float) -> float:
        left = self.deadline - time.monotonic()
        if left < MIN_START_S:
            raise OutOfTime(f"not started: {max(left, 0):.0f}s of the budget left")
        return min(cap, left)

    def start(self, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """A child in its own process group, so a timeout ends it and everything it started."""
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                                env={**os.environ, **(env or {})}, start_new_session=True)

    def finish(self, proc: subprocess.Popen, cmd: list[str], cap: float, started: float,
               expect: tuple[int, ...] = (0,)) -> Finished:
        """Wait for ``proc`` until ``cap`` seconds after ``started`` or the global deadline, whichever first."""
        by_budget = self.deadline < started + cap
        try:
            out, err = proc.communicate(timeout=max(0.0, min(started + cap, self.deadline) - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            seconds = time.monotonic() - started
            if by_budget:
                raise OutOfTime(f"killed after {seconds:.0f}s: the global budget ran out", out, err) from None
            raise CommandFailed(f"killed after {seconds:.0f}s (item limit {cap:.0f}s)", out, err) from None
        done = Finished(cmd, proc.returncode, out, err, time.monotonic() - started)
        if done.returncode not in expect:
            raise CommandFailed(f"exit {done.returncode}: {last_line(err or out)}", out, err)
        return done

    def run(self, cmd: list[str], cap: float, env: dict[str, str] | None = None,
            expect: tuple[int, ...] = (0,)) -> Finished:
        self.timeout(cap)
        started = time.monotonic()
        return self.finish(self.start(cmd, env), cmd, cap, started, expect)


@dataclass
class Report:
    folder: Path
    plan: Plan
    started: float = field(default_factory=time.monotonic)
    started_utc: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    sections: dict[str, dict[str, dict]] = field(default_factory=lambda: {s: {} for s in SECTIONS})
    notes: list[str] = field(default_factory=list)
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, section: str, name: str, item: Callable[..., dict], *args: Any) -> dict:
        """Run one item; any exception becomes its recorded status and error line, never a stop."""
        started = time.monotonic()
        values: dict = {}
        try:
            values = item(*args) or {}
            failed = [check for check, ok in values.get("checks", {}).items() if not ok]
            status, error = ("fail", "failed: " + "; ".join(failed)) if failed else ("pass", None)
        except Skip as exc:
            status, error = "skipped", str(exc)
        except OutOfTime as exc:
            status, error, values = "out-of-time", str(exc), exc.values
        except Exception as exc:  # the point of the harness: record and go on
            status, error = "fail", f"{type(exc).__name__}: {last_line(str(exc))}"
            values = getattr(exc, "values", {})
        result = {"status": status, "seconds": round(time.monotonic() - started, 1), "error": error}
        result.update({key: value for key, value in values.items() if key not in result})
        with self.lock:
            self.sections[section][name] = result
            self.write()
        return result

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for items in self.sections.values():
            for item in items.values():
                counts[item["status"]] = counts.get(item["status"], 0) + 1
        return counts

    def as_json(self) -> dict:
        return {"mode": self.plan.mode, "started_utc": self.started_utc, "finished": self.finished,
                "elapsed_s": round(time.monotonic() - self.started, 1), "budget_s": self.plan.budget_s,
                "summary": self.summary(), "notes": self.notes, "plan": asdict(self.plan),
                "sections": self.sections}

    def write(self) -> None:
        """Both files, rewritten after every item, so a run killed from outside still leaves a report."""
        data = self.as_json()
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "gpu_check.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
        (self.folder / "gpu_check.txt").write_text(render_text(data))


def scalar_text(key: str, value: Any) -> str:
    if isinstance(value, float):
        return f"{key}={value:.6g}"
    return f"{key}={json.dumps(value, default=str) if isinstance(value, dict | list) else value}"


def render_text(data: dict) -> str:
    lines = [f"ganforge GPU check ({data['mode']}), started {data['started_utc']}, "
             f"{data['elapsed_s']:.0f}s of a {data['budget_s']:.0f}s budget"
             f"{'' if data['finished'] else ' (still running or stopped early)'}",
             "summary: " + ", ".join(f"{n} {status}" for status, n in sorted(data["summary"].items())),
             *(f"note: {note}" for note in data["notes"]), ""]
    for section, items in data["sections"].items():
        lines.append(f"[{section}]")
        for name, item in items.items():
            lines.append(f"  {item['status'].upper():<11} {name}  ({item['seconds']:.1f}s)")
            if item["error"]:
                lines.append(f"      error: {item['error']}")
            checks = item.get("checks", {})
            if checks:
                lines.append(f"      checks: {sum(checks.values())}/{len(checks)} passed")
            for key, value in item.items():
                if key not in ("status", "seconds", "error", "checks"):
                    lines.append(f"      {scalar_text(key, value)}")
        lines.append("")
    return "\n".join(lines)
