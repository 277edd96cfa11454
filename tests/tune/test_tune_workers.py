"""Two `ganforge tune` processes on one study, as workers on two machines would be: through the default
SQLite file, and through a real PostgreSQL server (--storage). Optuna hands out the trials: the two
complete disjoint sets of trials that add up to n_trials."""

from __future__ import annotations

from pathlib import Path

from studies import load_trials, sqlite_url

from ganforge.tune.storage import with_driver

N_TRIALS = 4


def run_two_workers(ganforge_process, path: Path, *storage: str) -> None:
    workers = [ganforge_process("tune", path.name, "--no-progress", *storage, log=f"worker{k}.log") for k in (1, 2)]
    for worker in workers:
        assert worker.wait(timeout=240) == 0, worker.log_path.read_text()


def check_disjoint_trials(trials: list, out: Path) -> None:
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == N_TRIALS, [(t.number, t.state.name, t.user_attrs) for t in trials]
    surplus = [t for t in trials if t.user_attrs.get("surplus")]  # created in a race, failed untrained
    assert len(trials) == N_TRIALS + len(surplus) and all(t.state.name == "FAIL" for t in surplus)
    by_worker: dict[int, set[int]] = {}
    for trial in complete:
        by_worker.setdefault(trial.user_attrs["worker"]["pid"], set()).add(trial.number)
    assert len(by_worker) == 2, by_worker  # both workers ran trials ...
    first, second = by_worker.values()
    assert not first & second and len(first | second) == N_TRIALS  # ... none of them twice
    assert sorted(p.name for p in out.glob("trial-*")) == [f"trial-{t.number:04d}" for t in complete]


def test_two_workers_share_a_sqlite_study(write_study, ganforge_process, tmp_path: Path) -> None:
    path = write_study(n_trials=N_TRIALS)
    run_two_workers(ganforge_process, path)
    check_disjoint_trials(load_trials(sqlite_url(tmp_path / "out")), tmp_path / "out")


def test_two_workers_share_a_postgresql_study(write_study, ganforge_process, postgres_url: str,
                                              tmp_path: Path) -> None:
    path = write_study(n_trials=N_TRIALS)
    run_two_workers(ganforge_process, path, "--storage", postgres_url)
    check_disjoint_trials(load_trials(with_driver(postgres_url)), tmp_path / "out")
    assert not (tmp_path / "out" / "study.db").exists()  # the study lives in the server
    assert '"storage": "postgresql://ganforge@127.0.0.1' in (tmp_path / "out" / "study.json").read_text()
