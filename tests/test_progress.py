"""Progress off a terminal: complete plain lines at an interval, never carriage-return frames."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

import ganforge.progress as progress
from ganforge.progress import PLAIN_INTERVAL_S, PlainProgress, QuietProgress, progress_bar


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress.time, "monotonic", fake)
    return fake


def test_off_a_terminal_a_line_comes_every_interval_with_rate_eta_and_values(clock: Clock) -> None:
    stream = io.StringIO()
    bar = progress_bar(total=1000, desc="train", unit="step", stream=stream)
    assert isinstance(bar, PlainProgress) and bar.interval == PLAIN_INTERVAL_S == 10.0
    for second in range(1, 31):  # 30 s at 10 steps/s
        clock.now += 1
        bar.set_postfix(loss_d=f"{second / 100:.3f}", refresh=False)
        bar.update(10)
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 3  # at 10 s, 20 s and 30 s; close adds nothing new
    assert lines[0] == "train: 100/1000 step (10%), 10 step/s, ETA 1m30s, loss_d=0.100"
    assert lines[2].startswith("train: 300/1000 step (30%), 10 step/s, ETA 1m10s")


def test_close_reports_the_end_once(clock: Clock) -> None:
    stream = io.StringIO()
    with progress_bar(total=None, desc="download", unit="B", unit_scale=True, stream=stream) as bar:
        clock.now += 2
        bar.update(3 * 2**20)
    assert stream.getvalue() == "download: 3.00MB, 1.50MB/s, 2s elapsed\n"


def test_a_transient_bar_prints_only_when_it_runs_long(clock: Clock) -> None:
    stream = io.StringIO()
    with progress_bar(total=4, desc="decoding images", unit="img", leave=False, stream=stream) as bar:
        bar.update(4)
    assert stream.getvalue() == ""
    with progress_bar(total=100, desc="decoding images", unit="img", leave=False, stream=stream) as bar:
        clock.now += 11
        bar.update(50)
        bar.update(50)
    assert stream.getvalue() == "decoding images: 50/100 img (50%), 4.55 img/s, ETA 11s\n"


def test_disabled_and_silenced_bars_print_nothing(clock: Clock) -> None:
    stream = io.StringIO()
    assert isinstance(progress_bar(total=10, desc="x", enabled=False, stream=stream), QuietProgress)
    progress.silence()
    try:
        bar = progress_bar(total=10, desc="x", stream=stream)
        clock.now += 60
        bar.update(5)
        bar.close()
    finally:
        progress.silence(False)
    assert stream.getvalue() == ""


def test_train_to_a_file_writes_plain_lines(tmp_path) -> None:
    log = tmp_path / "log"
    env = {**os.environ, progress.INTERVAL_ENV: "0.2", "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "ganforge", "train", "--data", "toy2d:ring", "--model", "mlp", "--width", "8",
            "--z-dim", "4", "--batch-size", "16", "--steps", "250", "--log-every", "10", "--log", "csv",
            "--device", "cpu", "--threads", "1", "--run-dir", str(tmp_path / "run")]
    with open(log, "w") as handle:
        assert subprocess.run(args, stdout=handle, stderr=subprocess.STDOUT, env=env, timeout=120).returncode == 0
    text = log.read_text()
    assert "\r" not in text
    lines = [line for line in text.splitlines() if line.startswith("train: ")]
    assert len(lines) >= 2, text
    assert all("step/s" in line and "loss_d=" in line for line in lines[1:])
    assert any("ETA" in line for line in lines)
    assert lines[-1].startswith("train: 250/250 step (100%)")

    quiet = tmp_path / "quiet"
    with open(quiet, "w") as handle:
        subprocess.run([*args[:-1], str(tmp_path / "run2"), "--steps", "20", "--no-progress"], stdout=handle,
                       stderr=subprocess.STDOUT, env=env, timeout=120, check=True)
    assert [line for line in quiet.read_text().splitlines() if not line.startswith("done: ")] == []


def test_long_work_is_announced_with_its_duration_measured_on_the_second_batch():
    from ganforge.progress import StartEstimate, duration_estimate

    assert duration_estimate(10_000, 50, 0) is None and duration_estimate(100, 100, 1.0) is None
    assert duration_estimate(10_000, 50, 5.0) == (10.0, 995.0)
    now = [0.0]
    estimate = StartEstimate(10_000, "features: generated", "img", clock=lambda: now[0])
    now[0] = 30.0  # the first batch: start-up included, not measured
    assert estimate.after_batch(50) is None
    now[0] = 36.0  # the second: 50 images in 6.0 s
    line = estimate.after_batch(50)
    assert line == "features: generated: 10,000 img, about 19m48s at 8.33 img/s (measured on the first batches)"
    assert estimate.after_batch(50) is None  # said once


def test_short_work_gets_no_estimate():
    from ganforge.progress import StartEstimate

    now = [0.0]
    estimate = StartEstimate(500, "features: generated", "img", clock=lambda: now[0])
    estimate.after_batch(50)
    now[0] = 1.0
    assert estimate.after_batch(50) is None  # 400 more images at 50 img/s: 8 s
