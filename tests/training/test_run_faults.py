"""A run folder survives every fault at its edges: kills in the start-up window and between checkpoint
files, a finished run resumed, orphan temp files, a full disk, a read-only folder, a foreign torch file.

Runs are the tiny 2-D mixture model (seconds each); faults at a chosen moment come from kill_at.py.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import torch
from run_state import assert_same_state, state

from ganforge.cli import main

HERE = Path(__file__).parent
RUN = ["--data", "toy2d:ring", "--model", "mlp", "--width", "8", "--z-dim", "4", "--batch-size", "16",
       "--log-every", "2", "--sample-every", "1000", "--log", "csv", "--device", "cpu", "--threads", "1",
       "--no-progress"]
TIMEOUT = 120


def killed_at(moment: str, signal_name: str, count: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HERE / "kill_at.py"), moment, signal_name, str(count), "train",
                           *RUN, *args], capture_output=True, text=True, timeout=TIMEOUT)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: "), err[-2000:]
    assert "Traceback" not in err
    return lines[0]


def temp_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.rglob("*.tmp"))


# -- the start-up window -----------------------------------------------------------------------------

def test_sigterm_in_the_start_up_window_is_one_line_and_the_same_command_runs_again(tmp_path, capsys):
    run_dir = tmp_path / "run"
    result = killed_at("config", "TERM", 1, "--steps", "4", "--run-dir", str(run_dir))
    assert result.returncode == 128 + signal.SIGTERM
    line = one_error_line(result.stderr)
    assert "stopped by SIGTERM during start-up" in line and "run the same command again" in line
    assert (run_dir / "config.yaml").is_file() and not (run_dir / "checkpoints" / "last.pt").exists()
    # the plain re-run reuses the folder (no --overwrite), and trains what the first start would have
    assert main(["train", *RUN, "--steps", "4", "--run-dir", str(run_dir)]) == 0
    assert main(["train", *RUN, "--steps", "4", "--run-dir", str(tmp_path / "clean")]) == 0
    assert_same_state(state(run_dir / "checkpoints" / "last.pt"), state(tmp_path / "clean" / "checkpoints" / "last.pt"))
    assert (run_dir / "history.csv").read_text().count("\n") == (tmp_path / "clean" / "history.csv").read_text().count("\n")


def test_sigkill_in_the_start_up_window_leaves_a_folder_resume_explains(tmp_path, capsys):
    run_dir = tmp_path / "run"
    result = killed_at("config", "KILL", 1, "--steps", "4", "--run-dir", str(run_dir))
    assert result.returncode == -signal.SIGKILL
    assert main(["train", *RUN, "--steps", "4", "--run-dir", str(run_dir), "--resume"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "start-up stopped before the first checkpoint" in line and "without --resume" in line
    assert main(["train", *RUN, "--steps", "4", "--run-dir", str(run_dir)]) == 0


def test_a_folder_with_other_files_is_still_refused(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("steps: 4\n")
    (run_dir / "notes.txt").write_text("mine")
    assert main(["train", *RUN, "--steps", "2", "--run-dir", str(run_dir)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert (run_dir / "config.yaml").read_text() == "steps: 4\n"


def test_a_failed_eval_every_start_touches_nothing(tmp_path, capsys):
    run_dir = tmp_path / "run"
    missing = tmp_path / "no-such-weights.pth"
    code = main(["train", *RUN, "--data", "digits5k", "--model", "dcgan", "--steps", "4", "--eval-every", "2",
                 "--inception-weights", str(missing), "--run-dir", str(run_dir)])
    assert code == 2
    assert f"Inception weights file '{missing}'" in one_error_line(capsys.readouterr().err)
    assert not run_dir.exists()


# -- checkpoints -------------------------------------------------------------------------------------

def test_a_kill_between_the_step_copy_and_last_pt_loses_no_checkpoint(tmp_path):
    reference, run_dir = tmp_path / "reference", tmp_path / "run"
    every = ["--checkpoint-every", "4", "--steps", "12"]
    assert main(["train", *RUN, *every, "--run-dir", str(reference)]) == 0
    result = killed_at("step-copy", "KILL", 2, *every, "--run-dir", str(run_dir))  # at step 8's copy
    assert result.returncode == -signal.SIGKILL
    checkpoints = run_dir / "checkpoints"
    assert state(checkpoints / "last.pt")["step"] == 4  # the rename never happened...
    assert_same_state(state(checkpoints / "step_0000008.pt"), state(reference / "checkpoints" / "step_0000008.pt"))
    assert temp_files(run_dir)  # ...and the kill left last.pt's temp file behind
    assert main(["train", *RUN, *every, "--run-dir", str(run_dir), "--resume"]) == 0
    assert_same_state(state(checkpoints / "last.pt"), state(reference / "checkpoints" / "last.pt"))
    for step in (4, 8, 12):
        name = f"step_{step:07d}.pt"
        assert_same_state(state(checkpoints / name), state(reference / "checkpoints" / name))
    assert temp_files(run_dir) == []  # the orphan is gone


def test_orphans_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", *RUN, "--steps", "2", "--run-dir", str(run_dir)]) == 0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    orphan = run_dir / "checkpoints" / f".last.pt.{dead}.abc123.tmp"
    live = run_dir / "checkpoints" / f".last.pt.{os.getppid()}.def456.tmp"  # a running process (ours' parent)
    orphan.write_bytes(b"x" * 1000)
    live.write_bytes(b"y")
    assert main(["train", *RUN, "--steps", "4", "--run-dir", str(run_dir), "--resume"]) == 0
    assert not orphan.exists() and live.exists()


def test_keep_checkpoints_retains_the_newest(tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", *RUN, "--steps", "10", "--checkpoint-every", "2", "--keep-checkpoints", "2",
                 "--run-dir", str(run_dir)]) == 0
    names = sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt"))
    assert names == ["last.pt", "step_0000008.pt", "step_0000010.pt"]


def test_every_artifact_gets_a_plain_files_permissions(tmp_path):
    run_dir = tmp_path / "run"
    previous = os.umask(0o022)
    try:
        assert main(["train", *RUN, "--steps", "4", "--checkpoint-every", "2", "--run-dir", str(run_dir)]) == 0
    finally:
        os.umask(previous)
    modes = {p.relative_to(run_dir).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in run_dir.rglob("*")
             if p.is_file()}
    assert modes["generator.safetensors"] == 0o644
    assert set(modes.values()) == {0o644}, modes


def test_resuming_a_finished_run_says_so_and_writes_nothing(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", *RUN, "--log", "tensorboard,csv", "--steps", "4", "--run-dir", str(run_dir)]
    assert main(args) == 0
    capsys.readouterr()
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    assert main([*args, "--resume"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"run {run_dir} already finished at step 4; raise --steps to continue" in line
    after = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    assert after == before  # no TensorBoard event file, no final grid, nothing rewritten
    assert main([*args, "--resume", "--steps", "6"]) == 0


def test_a_kill_while_finishing_is_finished_by_resume(tmp_path, capsys):
    run_dir = tmp_path / "run"
    result = killed_at("finish", "KILL", 1, "--steps", "4", "--run-dir", str(run_dir))
    assert result.returncode == -signal.SIGKILL
    assert (run_dir / "samples" / "final.png").is_file() and not (run_dir / "progress.gif").exists()
    assert main(["train", *RUN, "--steps", "4", "--run-dir", str(run_dir), "--resume"]) == 0
    assert (run_dir / "progress.gif").is_file() and (run_dir / "loss_curves.png").is_file()
    assert "done: 4 steps" in capsys.readouterr().out
    assert main(["train", *RUN, "--steps", "4", "--run-dir", str(run_dir), "--resume"]) == 2
    assert "already finished at step 4" in one_error_line(capsys.readouterr().err)


def test_resume_on_a_torch_file_that_is_not_a_checkpoint(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", *RUN, "--steps", "2", "--run-dir", str(run_dir)]) == 0
    torch.save({"weights": torch.zeros(3)}, run_dir / "checkpoints" / "last.pt")
    capsys.readouterr()
    assert main(["train", *RUN, "--steps", "4", "--run-dir", str(run_dir), "--resume"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "is a torch file but not a ganforge training checkpoint (no 'generator')" in line


# -- the disk ----------------------------------------------------------------------------------------

def test_a_disk_filling_during_a_checkpoint(tmp_path, full_folder, monkeypatch, capsys):
    if full_folder is None:  # no tmpfs without root: the write itself reports ENOSPC
        import ganforge.training.checkpoint as checkpoint

        def full_disk(state: dict, handle) -> None:
            handle.write(b"x" * 4096)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(checkpoint.torch, "save", full_disk)
        folder = tmp_path
    else:
        folder = full_folder
    run_dir = folder / "run"
    # width 64: a first checkpoint of about 1 MB, five times what the 200 KiB disk holds
    code = main(["train", *RUN, "--width", "64", "--steps", "4", "--run-dir", str(run_dir)])
    assert code == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"cannot use {run_dir / 'checkpoints' / 'last.pt'}: no space left on the device" in line
    assert temp_files(run_dir) == []  # the partial temp file is gone: the disk is not left fuller


def test_a_read_only_run_folder(read_only_folder, capsys):
    run_dir = read_only_folder / "run"
    assert main(["train", *RUN, "--steps", "2", "--run-dir", str(run_dir)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"cannot use {run_dir}" in line
    assert "read-only" in line or "permission denied" in line


def test_evaluate_on_a_read_only_run_folder(tmp_path, read_only_copy, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", *RUN, "--steps", "2", "--run-dir", str(run_dir)]) == 0
    frozen = read_only_copy(run_dir)
    capsys.readouterr()
    assert main(["evaluate", str(frozen), "--num-samples", "100", "--device", "cpu", "--no-progress"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"cannot use {frozen / 'metrics.jsonl'}" in line
