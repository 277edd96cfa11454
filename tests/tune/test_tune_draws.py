"""A seeded study never repeats itself across launches and workers, and reproduces itself when run in one
piece: each new trial is drawn by the sampler seeded from (seed, trial number) and re-drawn when another
trial holds the same parameters; a retry of a failed trial keeps its parameters.

The first tests drive Optuna directly with a stand-in objective (no training); the last three run
`ganforge tune` on the tiny toy2d study: killed during its first trial and run again, two workers on one
SQLite file, and one piece twice."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from studies import load_trials, sqlite_url
from test_tune_resume import wait_for

from ganforge.tune.study import TuneStudy, load_study
from ganforge.tune.worker import repeat_note

CHOICES = {"n_critic": {"type": "int", "low": 1, "high": 3}, "loss": ["bce", "hinge"]}  # 6 configurations
RANGES = {"lr_g": {"type": "float", "low": 1e-3, "high": 5e-3, "log": True, "also": ["lr_d"]},
          "n_critic": {"type": "int", "low": 1, "high": 3}}
SAMPLERS = [{"name": "tpe", "seed": 0, "n_startup_trials": 2}, {"name": "random", "seed": 0},
            {"name": "cmaes", "seed": 0}]


def stand_in(study: TuneStudy) -> Callable[[Any], float]:
    """A deterministic objective of the sampled values, so that TPE and CMA-ES have something to model."""

    def objective(trial: Any) -> float:
        values = study.space.sample(trial)
        return float(values.get("lr_g", 1e-3) * 1000 + values["n_critic"] + (values.get("loss") == "bce"))

    return objective


def run_in_pieces(study: TuneStudy, pieces: list[int]) -> list[Any]:
    """Each piece is a launch: a new sampler built from the study file, joining the same storage."""
    import optuna

    from ganforge.tune.storage import quiet_optuna

    quiet_optuna()
    storage = optuna.storages.InMemoryStorage()
    for n in pieces:
        optuna_study = optuna.create_study(study_name="s", storage=storage, load_if_exists=True,
                                           sampler=study.sampler.build(study.space))
        optuna_study.optimize(stand_in(study), n_trials=n)
    return optuna_study.get_trials()


def configurations(trials: list[Any]) -> list[tuple]:
    return [tuple(sorted(t.params.items())) for t in trials]


def seeded(write_study, sampler: dict, search: dict, name: str = "study.yaml") -> TuneStudy:
    return load_study(write_study(name, sampler=sampler, search=search))


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: s["name"])
def test_a_study_run_in_pieces_repeats_no_configuration_and_matches_one_piece(write_study, sampler: dict) -> None:
    study = seeded(write_study, sampler, RANGES)
    whole = configurations(run_in_pieces(study, [6]))
    assert len(set(whole)) == 6
    assert configurations(run_in_pieces(study, [6])) == whole  # the seed reproduces the study
    # each launch starts a new sampler: the draws follow the trial numbers, not the launch
    assert configurations(run_in_pieces(study, [1, 1, 2, 2])) == whole
    other = seeded(write_study, {**sampler, "seed": 1}, RANGES, "other.yaml")
    assert configurations(run_in_pieces(other, [6])) != whole


@pytest.mark.parametrize("sampler", SAMPLERS[:2], ids=lambda s: s["name"])
def test_a_small_space_is_covered_before_any_configuration_repeats(write_study, sampler: dict) -> None:
    """TPE's best candidate on two discrete keys barely moves with its seed: repeats are re-drawn."""
    study = seeded(write_study, sampler, CHOICES)
    trials = run_in_pieces(study, [1, 1, 1, 3])
    assert len(set(configurations(trials))) == 6
    seven = run_in_pieces(study, [7])  # more trials than configurations: one repeats, and the log says so
    assert len(set(configurations(seven))) == 6 and len(seven) == 7
    same = next(t.number for t in seven[:6] if t.params == seven[6].params)
    assert repeat_note(seven, 6, seven[6].params) == (f"trial 6 repeats the parameters of trial {same}: no untried "
                                                      "configuration found (the search space may be used up)")
    assert [t.number for t in seven if repeat_note(seven, t.number, t.params)] == [same, 6]


def test_a_retry_keeps_its_parameters_and_grid_is_left_to_enumerate(write_study) -> None:
    import optuna

    from ganforge.tune.draws import TrialSeededSampler
    from ganforge.tune.queue import requeue

    study = seeded(write_study, {"name": "random", "seed": 0}, RANGES)
    optuna_study = optuna.create_study(sampler=study.sampler.build(study.space))
    optuna_study.optimize(stand_in(study), n_trials=1)
    failed = optuna_study.ask()
    study.space.sample(failed)
    optuna_study.tell(failed, state=optuna.trial.TrialState.FAIL)
    assert requeue(optuna_study, optuna_study.trials[1], retries=1)
    optuna_study.optimize(stand_in(study), n_trials=2)
    trials = optuna_study.trials
    assert trials[2].system_attrs["failed_trial"] == 1 and trials[2].params == trials[1].params
    assert repeat_note(trials, 2, trials[2].params) is None  # a retry repeats on purpose
    assert len(set(configurations([trials[0], trials[1], trials[3]]))) == 3
    grid = seeded(write_study, {"name": "grid", "seed": 0}, {"loss": ["bce", "hinge"]}, "grid.yaml")
    sampler = grid.sampler.build(grid.space)
    assert isinstance(sampler, optuna.samplers.GridSampler) and not isinstance(sampler, TrialSeededSampler)


# -- ganforge tune, as a user runs it ---------------------------------------------------------------------

TPE = {"name": "tpe", "seed": 0, "n_startup_trials": 8}  # the example study's sampler


def assert_no_repeats_but_retries(trials: list[Any]) -> None:
    """No two trials hold the same parameters, except a failed trial and its retries."""
    by_config: dict[tuple, set[int]] = {}
    for trial in trials:
        if trial.params:
            original = trial.system_attrs.get("failed_trial", trial.number)
            by_config.setdefault(tuple(sorted(trial.params.items())), set()).add(original)
    repeated = {config: numbers for config, numbers in by_config.items() if len(numbers) > 1}
    assert not repeated, [(t.number, t.state.name, t.params, t.system_attrs.get("failed_trial")) for t in trials]


def test_a_seeded_study_killed_in_its_first_trial_repeats_nothing_when_run_again(write_study, ganforge_process,
                                                                                  tmp_path: Path) -> None:
    path = write_study(n_trials=3, sampler=TPE, settings={"steps": 50}, search=RANGES)
    out = tmp_path / "out"
    first = ganforge_process("tune", path.name, "--no-progress", log="first.log")
    wait_for(lambda: (out / "trial-0000").is_dir(), 180, "trial 0's run folder", first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    again = ganforge_process("tune", path.name, "--no-progress", log="second.log")
    assert again.wait(timeout=240) == 0, again.log_path.read_text()
    assert "tune ring: 3/3 trials finished (3 complete, 0 pruned, 0 failed)" in again.log_path.read_text()
    trials = load_trials(sqlite_url(out))
    assert [(t.number, t.state.name, t.system_attrs.get("failed_trial")) for t in trials] == [
        (0, "FAIL", None), (1, "COMPLETE", 0), (2, "COMPLETE", None), (3, "COMPLETE", None)]
    assert trials[1].params == trials[0].params  # the retry repeats its trial, as it must
    assert_no_repeats_but_retries(trials)


def test_two_workers_with_one_seeded_file_draw_different_configurations(write_study, ganforge_process,
                                                                         tmp_path: Path) -> None:
    path = write_study(n_trials=4, sampler=TPE, settings={"steps": 50}, search=RANGES)
    workers = [ganforge_process("tune", path.name, "--no-progress", log=f"worker{k}.log") for k in (1, 2)]
    for worker in workers:
        assert worker.wait(timeout=240) == 0, worker.log_path.read_text()
    trials = load_trials(sqlite_url(tmp_path / "out"))
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 4 and len({t.user_attrs["worker"]["pid"] for t in complete}) == 2
    assert_no_repeats_but_retries(trials)


def test_a_seeded_study_run_twice_in_one_piece_draws_the_same_sequence(write_study, cli, tmp_path: Path,
                                                                       one_thread, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    sampler = {"name": "tpe", "seed": 0, "n_startup_trials": 2}  # the third trial is TPE's, from the values
    path = write_study(n_trials=3, sampler=sampler, settings={"steps": 50}, search=RANGES)
    sequences = []
    for out in ("first", "second"):
        code, _, err = cli("tune", path, "--out", out, "--no-progress")
        assert code == 0, err
        sequences.append([(t.number, t.params, t.value) for t in load_trials(sqlite_url(tmp_path / out))])
    assert sequences[0] == sequences[1]
    assert len({tuple(sorted(params.items())) for _, params, _ in sequences[0]}) == 3
