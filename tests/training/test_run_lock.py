"""One writer per run folder: a second writer is refused with one line naming the holder and changes nothing;
the lock of a dead writer is taken over; readers of a live run say which step they read."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_state import assert_same_state, state
from test_run_faults import HERE, RUN, TIMEOUT, one_error_line

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.runfolder import LOCK_FILE
from ganforge.runlock import LockHolder, RunLock, live_writer, parse_holder

EVERY = ["--checkpoint-every", "4", "--steps", "12"]


def dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def write_record(root: Path, pid: int, host: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": host, "since": "earlier"}) + "\n")


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_second_lock_names_the_holder_and_a_released_one_is_free(tmp_path):
    first = RunLock(tmp_path)
    first.acquire()
    assert live_writer(tmp_path) == parse_holder((tmp_path / LOCK_FILE).read_text())
    with pytest.raises(GanforgeError, match=f"being written by pid {os.getpid()} on host {socket.gethostname()}"):
        RunLock(tmp_path).acquire()
    first.release()
    assert live_writer(tmp_path) is None
    with RunLock(tmp_path):
        assert live_writer(tmp_path).pid == os.getpid()


def test_the_record_of_a_dead_process_is_taken_over(tmp_path):
    write_record(tmp_path, dead_pid(), socket.gethostname())
    assert live_writer(tmp_path) is None
    with RunLock(tmp_path):
        assert live_writer(tmp_path).pid == os.getpid()


def test_the_record_of_an_unreaped_process_is_taken_over(tmp_path):
    """A writer killed under a launcher that has not waited for it yet is a zombie: its pid exists but it
    writes nothing, so its record is taken over like a dead one's (and a live process's is not)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + TIMEOUT
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.05)
        (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": child.pid, "host": socket.gethostname()}))
        assert live_writer(tmp_path) is None
        with RunLock(tmp_path):
            assert live_writer(tmp_path).pid == os.getpid()
    finally:
        child.wait()


def test_another_hosts_record_is_not_taken_over(tmp_path):
    write_record(tmp_path, dead_pid(), "some-other-host")
    assert live_writer(tmp_path) == LockHolder(int(json.loads((tmp_path / LOCK_FILE).read_text())["pid"]),
                                               "some-other-host", "earlier")
    with pytest.raises(GanforgeError, match=f"if that run is gone, delete {tmp_path / LOCK_FILE}"):
        RunLock(tmp_path).acquire()


@pytest.mark.parametrize("text", ["", "{", "[]", '{"pid": "7", "host": "h"}', '{"host": "h"}'])
def test_an_empty_or_damaged_record_names_nobody(text):
    assert parse_holder(text) is None


def wait_until_stopped(process: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        if fields[0] == "T":
            return
        time.sleep(0.05)
    raise AssertionError("the first writer never reached its checkpoint")


def test_a_second_writer_is_refused_and_a_killed_writers_run_is_taken_over(tmp_path, capsys):
    reference, run_dir = tmp_path / "reference", tmp_path / "run"
    assert main(["train", *RUN, *EVERY, "--run-dir", str(reference)]) == 0
    # the first writer stops itself (SIGSTOP) right after publishing step 4: alive, holding the lock
    first = subprocess.Popen([sys.executable, str(HERE / "kill_at.py"), "step-copy", "STOP", "1", "train", *RUN,
                              *EVERY, "--run-dir", str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until_stopped(first)
        before = snapshot(run_dir)
        capsys.readouterr()
        for extra in ([], ["--resume"], ["--overwrite"]):
            assert main(["train", *RUN, *EVERY, "--run-dir", str(run_dir), *extra]) == 2
            line = one_error_line(capsys.readouterr().err)
            assert f"run folder {run_dir} is being written by pid {first.pid} on host {socket.gethostname()}" in line
        assert snapshot(run_dir) == before
        # a reader says the run is live and which step it read (last.pt is still step 0's)
        assert main(["evaluate", str(run_dir), "--device", "cpu", "--threads", "1", "--num-samples", "200",
                     "--no-progress"]) == 0
        warning = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("ganforge: warning:")]
        assert len(warning) == 1 and "is still training" in warning[0] and "step 0" in warning[0], warning
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=TIMEOUT)
    assert first.returncode == -signal.SIGKILL
    # the next start takes the dead writer's lock over and ends bitwise where an uninterrupted run ends
    assert main(["train", *RUN, *EVERY, "--run-dir", str(run_dir), "--resume"]) == 0
    assert_same_state(state(run_dir / "checkpoints" / "last.pt"), state(reference / "checkpoints" / "last.pt"))
    assert live_writer(run_dir) is None  # released at the end
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--device", "cpu", "--threads", "1", "--num-samples", "200",
                 "--no-progress"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_serve_says_which_step_of_a_live_run_it_serves(tmp_path, monkeypatch, capsys):
    from ganforge.web.server import GanforgeServer

    runs = tmp_path / "runs"
    assert main(["train", *RUN, "--steps", "4", "--run-dir", str(runs / "live")]) == 0
    assert main(["train", *RUN, "--steps", "2", "--run-dir", str(runs / "done")]) == 0

    def stop_at_once(self, poll_interval: float = 0.5) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(GanforgeServer, "serve_forever", stop_at_once)
    capsys.readouterr()
    with RunLock(runs / "live"):  # this process plays the trainer
        assert main(["serve", str(runs), "--port", "0", "--quiet"]) == 0
    warning = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("ganforge: warning:")]
    assert len(warning) == 1 and f"{(runs / 'live').resolve()} is still training (pid {os.getpid()}" in warning[0]
    assert "serving its newest saved generator, step 4 now" in warning[0]
