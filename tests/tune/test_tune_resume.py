"""`ganforge tune` killed with SIGKILL in the middle of a trial, then run again: the killed trial is marked
failed at once (its process is gone) and retried in its own run folder from the last checkpoint; no
trial is lost or run twice, and the study ends with exactly n_trials finished."""

from __future__ import annotations

import csv
import signal
import time
import warnings
from pathlib import Path

from studies import load_trials, sqlite_url

from ganforge.metrics.records import generator_step


def wait_for(condition, timeout: float, what: str, process) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"tune exited with {process.returncode} before {what}:\n" + process.log_path.read_text())
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def history_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "history.csv", newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


def test_sigkill_mid_trial_then_rerun_retries_it_from_its_checkpoint(write_study, ganforge_process,
                                                                    tmp_path: Path) -> None:
    path = write_study(sampler={"name": "random", "seed": 0})
    out = tmp_path / "out"
    killed_dir = out / "trial-0001"
    first = ganforge_process("tune", path.name, "--no-progress", log="first.log")
    # a run saves its generator at step 0 already: wait for the first checkpoint after training started
    wait_for(lambda: (generator_step(killed_dir) or 0) >= 50, 180, "trial 1's first periodic checkpoint", first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    stopped_at = generator_step(killed_dir)
    assert stopped_at is not None and 50 <= stopped_at < 200
    before = {t.number: t.state.name for t in load_trials(sqlite_url(out))}
    assert before == {0: "COMPLETE", 1: "RUNNING"}  # what SIGKILL leaves: a trial nobody will finish
    finished_mtime = (out / "trial-0000" / "generator.json").stat().st_mtime_ns

    again = ganforge_process("tune", path.name, "--no-progress", log="second.log")
    assert again.wait(timeout=240) == 0, again.log_path.read_text()
    log = again.log_path.read_text()
    assert "trial 1: its worker process is gone; marked failed and queued again" in log
    assert f"trial-0001: resuming from step {stopped_at}/200" in log
    assert "trial-0000:" not in log  # finished before the kill: not touched again
    assert (out / "trial-0000" / "generator.json").stat().st_mtime_ns == finished_mtime
    assert "tune ring: 4/4 trials finished (4 complete, 0 pruned, 0 failed)" in log

    trials = load_trials(sqlite_url(out))
    by_number = {t.number: t for t in trials}
    assert by_number[1].state.name == "FAIL"
    retries = [t for t in trials if t.system_attrs.get("failed_trial") is not None]
    assert [(t.system_attrs["failed_trial"], t.state.name) for t in retries] == [(1, "COMPLETE")]
    assert retries[0].params == by_number[1].params
    assert retries[0].user_attrs["runs"] == ["trial-0001"]  # the retry trains in the killed trial's folder
    originals = sorted(t.number for t in trials if t.system_attrs.get("failed_trial") is None)
    assert len(originals) == 4 and sum(t.state.name == "COMPLETE" for t in trials) == 4
    assert sorted(p.name for p in out.glob("trial-*")) == [f"trial-{n:04d}" for n in originals]
    assert history_steps(killed_dir) == [50, 100, 150, 200]  # continued, no step logged twice
    assert generator_step(killed_dir) == 200


def test_a_trial_whose_remote_worker_stopped_its_heartbeat_is_failed_and_retried(write_study, cli,
                                                                                  tmp_path: Path, one_thread,
                                                                                  monkeypatch) -> None:
    """A worker on another machine that died: no process to check here, only its heartbeat, which stops."""
    import optuna

    from ganforge.tune.storage import open_storage

    monkeypatch.chdir(tmp_path)
    path = write_study(n_trials=1, heartbeat=1, settings={"steps": 100})
    (tmp_path / "out").mkdir()
    storage = open_storage(sqlite_url(tmp_path / "out"), 1, None)
    study = optuna.create_study(study_name="ring", storage=storage, direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Optuna: heartbeats are meant for optimize(); so here
        trial = study.ask()
    trial.set_user_attr("worker", {"host": "another-machine", "pid": 1})
    storage.record_heartbeat(trial._trial_id)  # its last sign of life
    # past the grace period of twice the heartbeat, with a second to spare: SQLite keeps whole seconds
    time.sleep(3.5)

    code, out, err = cli("tune", path, "--no-progress")
    assert code == 0, err
    assert "trial 0: its worker stopped responding; queued again" in out
    assert "tune ring: 1/1 trials finished (1 complete, 0 pruned, 0 failed)" in out
    trials = load_trials(sqlite_url(tmp_path / "out"))
    assert [(t.number, t.state.name, t.system_attrs.get("failed_trial")) for t in trials] == [
        (0, "FAIL", None), (1, "COMPLETE", 0)]
    assert trials[1].user_attrs["runs"] == ["trial-0000"]  # the dead trial's folder
