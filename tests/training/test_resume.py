"""Resume continues exactly; Ctrl-C / SIGTERM leave a usable checkpoint."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import torch

from ganforge.cli import main

TINY = ["--width", "8", "--batch-size", "16", "--z-dim", "16", "--log-every", "5", "--sample-every", "10",
        "--checkpoint-every", "100", "--no-progress"]


def history(run_dir):
    with open(run_dir / "history.csv", newline="") as handle:
        return [(r["step"], r["epoch"], r["loss_d"], r["loss_g"], r["d_real"], r["d_fake"])
                for r in csv.DictReader(handle)]


def weights(run_dir):
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return state["generator"], state["discriminator"], state["opt_g"]["state"]


def test_resume_matches_uninterrupted_run(tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    assert main(["train", "--steps", "22", "--run-dir", str(full), *TINY]) == 0
    # stop off the logging grid (12 is not a multiple of 5) to exercise the partial-window path
    assert main(["train", "--steps", "12", "--run-dir", str(split), *TINY]) == 0
    assert main(["train", "--steps", "22", "--run-dir", str(split), "--resume", *TINY]) == 0
    assert history(split) == history(full)
    g_full, d_full, opt_full = weights(full)
    g_split, d_split, opt_split = weights(split)
    for a, b in ((g_full, g_split), (d_full, d_split)):
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
    assert torch.equal(opt_full[0]["exp_avg"], opt_split[0]["exp_avg"])


def test_resume_refuses_changed_settings(tmp_path, capsys):
    run_dir = tmp_path / "r"
    assert main(["train", "--steps", "3", "--run-dir", str(run_dir), *TINY]) == 0
    before = (run_dir / "checkpoints" / "last.pt").read_bytes()
    assert main(["train", "--steps", "6", "--run-dir", str(run_dir), "--resume", "--lr-g", "0.1", *TINY]) == 2
    err = capsys.readouterr().err
    assert "cannot change lr_g when resuming" in err and err.count("\n") == 1
    assert (run_dir / "checkpoints" / "last.pt").read_bytes() == before


def test_sigterm_writes_checkpoint_and_exits_cleanly(tmp_path):
    run_dir = tmp_path / "killed"
    cmd = [sys.executable, "-m", "ganforge", "train", "--steps", "100000", "--run-dir", str(run_dir), *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        hist = run_dir / "history.csv"
        if hist.is_file() and len(hist.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert "resume with: ganforge train --run-dir" in err
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] >= 10
    # and the run continues from there
    assert main(["train", "--steps", str(state["step"] + 2), "--run-dir", str(run_dir), "--resume", *TINY]) == 0
    assert int(history(run_dir)[-1][0]) == state["step"] + 2
