"""The busy-cores guard: torch's threads outnumbering the cores other processes leave free get one warning
with the fix (decided from made-up loads, never by timing)."""

from __future__ import annotations

import warnings

import pytest
import torch

from ganforge.devices import LOAD_WINDOW_S, BusyCoresWatch, busy_cores_warning


@pytest.mark.parametrize(("threads", "cores", "load", "fix"), [
    (2, 2, 3.0, "--threads 1"),     # the measured case: another process on one of two cores
    (2, 2, 6.0, "--threads 1"),     # a crowded machine: never fewer than one thread
    (8, 8, 12.0, "--threads 4"),    # four of eight cores taken
    (16, 16, 17.9, "--threads 14"),
])
def test_threads_beyond_the_free_cores_are_warned_with_the_fix(threads, cores, load, fix):
    message = busy_cores_warning(threads, cores, load)
    assert message is not None and message.endswith(f"pass {fix}")
    assert f"torch runs {threads} threads" in message


@pytest.mark.parametrize(("threads", "cores", "load"), [
    (2, 2, 2.0),   # quiet: the load is our own two threads
    (2, 2, 2.4),   # a little noise
    (1, 2, 5.0),   # one thread cannot wait on another
    (2, 8, 6.0),   # plenty of free cores left
    (4, 4, 0.5),   # a load average still catching up with us
])
def test_threads_that_fit_are_left_alone(threads, cores, load):
    assert busy_cores_warning(threads, cores, load) is None


def test_the_watch_reads_the_load_once_after_its_window(monkeypatch):
    now = [0.0]
    reads = []

    def load() -> float:
        reads.append(now[0])
        return 10.0

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr("ganforge.devices.usable_cores", lambda: 2)
    watch = BusyCoresWatch(clock=lambda: now[0], read_load=load)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        watch.on_step_end(None, 1)
        now[0] = LOAD_WINDOW_S - 1
        watch.on_step_end(None, 2)
        assert reads == [] and caught == []
        now[0] = LOAD_WINDOW_S + 1
        for step in range(3, 10):
            assert watch.on_step_end(None, step) is None
    assert reads == [LOAD_WINDOW_S + 1]
    assert [str(w.message).rsplit("; ", 1)[1] for w in caught] == ["pass --threads 1"]
