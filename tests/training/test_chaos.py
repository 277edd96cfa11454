"""Chaos: SIGKILL a short run at random moments, again and again, and continue it as a user would.

After each kill the folder is continued the way the CLI says: ``--resume`` when it holds a checkpoint,
the same command otherwise (a start-up that never reached its first checkpoint is not a run). When the
run completes, every checkpoint it wrote (last.pt and each periodic step file, written by different
processes) must be bitwise equal to an uninterrupted run's, history.csv must hold the same rows, and no
temp file may be left. Delays are seeded; the moments they hit vary with the machine's load, so each
kill is classified by what it left behind. Bounded: KILLS kills, about a minute on two shared cores
(GANFORGE_CHAOS_KILLS / GANFORGE_CHAOS_SEED make a longer soak run).
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from run_state import assert_same_state, state

from ganforge.cli import main

KILLS = int(os.environ.get("GANFORGE_CHAOS_KILLS", "12"))  # more for a soak run (BENCHMARKS.md)
SEED = int(os.environ.get("GANFORGE_CHAOS_SEED", "14"))
MAX_DELAY_S = 5.0  # from the launch: start-up (~2.5 s here), then training
TIME_BUDGET_S = 12.5 * KILLS
STEPS = 600
RUN = ["--data", "toy2d:ring", "--model", "mlp", "--width", "8", "--z-dim", "4", "--batch-size", "16",
       "--steps", str(STEPS), "--checkpoint-every", "5", "--log-every", "2", "--sample-every", "50",
       "--log", "csv", "--device", "cpu", "--threads", "1", "--no-progress"]
MEASURED = ("epoch", "loss_d", "loss_g", "d_real", "d_fake", "lr")


def history(run_dir: Path) -> list[tuple[str, ...]]:
    with open(run_dir / "history.csv", newline="") as handle:
        return [tuple(row[key] for key in ("step", *MEASURED)) for row in csv.DictReader(handle)]


def moment(run_dir: Path) -> str:
    """What a kill interrupted, from what it left."""
    checkpoints = run_dir / "checkpoints"
    if not (run_dir / "config.yaml").is_file():
        return "before the run folder"
    if not (checkpoints / "last.pt").is_file():
        return "start-up (config.yaml, no checkpoint)"
    if any(checkpoints.glob(".*.tmp")):
        return "mid-checkpoint"
    if any(run_dir.rglob(".*.tmp")):
        return "mid-write of another artifact"
    return "training"


def command(run_dir: Path) -> list[str]:
    resume = ["--resume"] if (run_dir / "checkpoints" / "last.pt").is_file() else []
    return [sys.executable, "-m", "ganforge", "train", *RUN, "--run-dir", str(run_dir), *resume]


def test_random_kills_then_resume_end_bitwise_equal(tmp_path):
    reference = tmp_path / "reference"
    assert main(["train", *RUN, "--run-dir", str(reference)]) == 0
    rng = random.Random(SEED)
    moments: Counter[str] = Counter()
    started, rounds, kills = time.monotonic(), 0, 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    while kills < KILLS:
        assert time.monotonic() - started < TIME_BUDGET_S, f"{kills} kills in the time budget: {dict(moments)}"
        rounds += 1
        run_dir = tmp_path / f"chaos-{rounds}"
        while kills < KILLS:  # kill this run until it finishes before its kill, or enough kills are done
            proc = subprocess.Popen(command(run_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            try:
                proc.wait(timeout=rng.uniform(0.2, MAX_DELAY_S))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                moments[moment(run_dir)] += 1
                continue
            err = proc.stderr.read().decode() if proc.stderr else ""
            # rc 2 "already finished": the last kill came after the run's end, before the process exited
            assert proc.returncode == 0 or "already finished" in err, err[-2000:]
            break
        finish = subprocess.run(command(run_dir), capture_output=True, text=True, env=env, timeout=120)
        done = finish.returncode == 0 or "already finished" in finish.stderr
        assert done, finish.stderr[-2000:]
        checkpoints = run_dir / "checkpoints"
        assert_same_state(state(checkpoints / "last.pt"), state(reference / "checkpoints" / "last.pt"))
        steps = sorted(p.name for p in checkpoints.glob("step_*.pt"))
        assert steps == sorted(p.name for p in (reference / "checkpoints").glob("step_*.pt"))
        for name in steps:
            assert_same_state(state(checkpoints / name), state(reference / "checkpoints" / name))
        assert history(run_dir) == history(reference)
        assert (run_dir / "samples" / "final.png").is_file()
        assert sorted(run_dir.rglob("*.tmp")) == []
    print(f"chaos: {kills} SIGKILLs over {rounds} run(s) in {time.monotonic() - started:.0f}s, "
          f"moments {dict(moments)}; every resumed run bitwise equal to the uninterrupted one")
