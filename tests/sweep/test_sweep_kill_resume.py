"""A real sweep process killed with SIGTERM mid-run, then run again: nothing finished is redone, the
interrupted run continues from its checkpoint, and the second launch runs its work in worker processes
(--jobs 2) that share the study database."""

from __future__ import annotations

import csv
import json
import signal
import time
from pathlib import Path

from ganforge.metrics.records import generator_step

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
    wait_for(lambda: "[1/2] pacgan2d_toy2d-ring: trained to step 6" in sweep.log_path.read_text()
             and (second / "checkpoints" / "step_0000005.pt").is_file(), 180, "the second run's first periodic checkpoint", sweep)
    finished = mtimes(first)
    sweep.send_signal(signal.SIGTERM)
    assert sweep.wait(timeout=120) == 128 + signal.SIGTERM
    log = sweep.log_path.read_text()
    assert "[1/2] pacgan2d_toy2d-ring: trained to step 6" in log and "modes " in log
    assert "stopped by SIGTERM during gan_toy2d-ring (checkpoint saved)" in log and "run the same command again" in log
    stopped_at = generator_step(second)
    assert stopped_at is not None and 5 <= stopped_at < LONG_STEPS

    again = ganforge_process("sweep", path.name, "--no-progress", "--jobs", "2", log="second.log")
    assert again.wait(timeout=240) == 0, again.log_path.read_text()
    log = again.log_path.read_text()
    assert "pacgan2d_toy2d-ring: training" not in log  # finished in the study: not even looked at again
    assert "sweep killme: 2/2 runs done (1 already done)" in log
    assert mtimes(first) == finished  # not a single file of the finished run was rewritten
    resumed = [line for line in log.splitlines() if "gan_toy2d-ring: resum" in line]
    assert len(resumed) == 2 and all(line.startswith("[worker ") for line in resumed), log
    assert resumed[0].endswith(f"[2/2] gan_toy2d-ring: resuming from step {stopped_at}/{LONG_STEPS}")
    assert f"[2/2] gan_toy2d-ring: resumed and trained to step {LONG_STEPS}" in resumed[1]
    assert history_steps(second) == list(range(5, LONG_STEPS + 1, 5))
    assert generator_step(second) == LONG_STEPS and (second / "loss_curves.png").is_file()
    measured = [json.loads(line) for line in (second / "metrics.jsonl").read_text().splitlines()]
    assert [(m["step"], m["protocol"]["num_fake"]) for m in measured] == [(LONG_STEPS, 300)]
