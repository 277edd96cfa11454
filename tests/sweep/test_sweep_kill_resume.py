"""A real sweep process killed with SIGTERM mid-run, then run again: nothing finished is redone, the
interrupted run continues from its checkpoint, and the second launch runs its work in a worker (--jobs 2)."""

from __future__ import annotations

import csv
import json
import signal
import time
from pathlib import Path

from ganforge.report.records import generator_step

LONG_STEPS = 300


def wait_for(condition, timeout: float, what: str, process=None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"sweep exited with {process.returncode} before {what}:\n"
                                 + process.log_path.read_text())
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def summary(out: Path) -> list[dict]:
    path = out / "sweep.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def history_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "history.csv", newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


def test_sigterm_then_rerun_skips_finished_and_resumes_interrupted(write_sweep, ganforge_process, tiny,
                                                                   tmp_path: Path) -> None:
    # Two models on one dataset: PacGAN's 2-D networks (a short run) and the vanilla GAN MLP (a long one).
    path = write_sweep({
        "name": "killme", "out": "out", "metrics": ["toy2d"], "evaluation": {"samples": 300},
        "settings": {**tiny, "data": "toy2d:ring", "checkpoint_every": 5},
        "grid": {"preset": [{"preset": "pacgan2d", "steps": 6}, {"preset": "gan", "steps": LONG_STEPS}]},
    })
    out = tmp_path / "out"
    first, second = out / "pacgan2d_toy2d-ring", out / "gan_toy2d-ring"

    sweep = ganforge_process("sweep", path.name, "--no-progress", log="first.log")
    wait_for(lambda: any(r["name"] == first.name and r["status"] == "done" for r in summary(out))
             and (second / "checkpoints" / "step_0000005.pt").is_file(), 180, "the second run's first periodic checkpoint", sweep)
    finished = mtimes(first)
    sweep.send_signal(signal.SIGTERM)
    assert sweep.wait(timeout=120) == 128 + signal.SIGTERM
    log = sweep.log_path.read_text()
    assert "[1/2] pacgan2d_toy2d-ring: trained to step 6" in log and "modes " in log
    assert "stopped by SIGTERM during gan_toy2d-ring" in log and "run the same command again" in log
    assert summary(out)[-1]["name"] == second.name and summary(out)[-1]["status"] == "interrupted"
    stopped_at = generator_step(second)
    assert stopped_at is not None and 5 <= stopped_at < LONG_STEPS

    before = len(summary(out))
    again = ganforge_process("sweep", path.name, "--no-progress", "--jobs", "2", log="second.log")
    assert again.wait(timeout=240) == 0, again.log_path.read_text()
    log = again.log_path.read_text()
    assert "[1/2] pacgan2d_toy2d-ring: already done, skipped" in log
    assert f"[2/2] gan_toy2d-ring: resumed and trained to step {LONG_STEPS}" in log
    assert "sweep killme: 2/2 runs done (1 already done)" in log
    assert mtimes(first) == finished  # not a single file of the finished run was rewritten
    records = summary(out)[before:]
    assert [(r["name"], r["status"], r["action"]) for r in records] == [
        (first.name, "skipped", "done"), (second.name, "done", "resume")]
    worker_log = (out / "logs" / f"{second.name}.log").read_text()
    assert f"resuming from step {stopped_at}/{LONG_STEPS}" in worker_log
    assert history_steps(second) == list(range(5, LONG_STEPS + 1, 5))
    assert generator_step(second) == LONG_STEPS and (second / "loss_curves.png").is_file()
    measured = [json.loads(line) for line in (second / "metrics.jsonl").read_text().splitlines()]
    assert [(m["step"], m["protocol"]["num_fake"]) for m in measured] == [(LONG_STEPS, 300)]
