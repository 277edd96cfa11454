"""The study part of a report says whether the best trial is separated from the runner-up by the seeds, and
shows the sweep's real-data floor as a row of its own (trials built here, no study database needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ganforge.metrics.floor import Floor, FloorRequest
from ganforge.report.study import TrialResult, best_section, separation


def trial(number: int, name: str, key: str, mean: float, se: float, seeds: int = 2) -> Any:
    """A finished trial as Optuna hands it to the report: value, params and the mean/s.e. attributes."""
    attrs = {f"mean.{key}": mean, f"se.{key}": se, "seeds": list(range(seeds)), "runs": [f"{name}_seed{s}" for s in range(seeds)]}
    return SimpleNamespace(number=number, value=mean, params={"run": name}, user_attrs=attrs)


def section(trials: list[Any], objective: str = "fid", floors: tuple[Floor, ...] = ()) -> Any:
    return best_section({"objective": objective, "direction": "minimize"}, trials, ["run"], floors)


def test_overlapping_seed_spreads_are_said_to_be_not_separated() -> None:
    intro = section([trial(0, "dcgan", "fid", 52.0, 1.0), trial(1, "wgan-gp", "fid", 50.0, 1.5),
                     trial(2, "wgan", "fid", 90.0, 2.0)]).intro
    assert ("Not separated by the seeds: the best trial, wgan-gp (FID 50 ± 1.5), and the runner-up, dcgan "
            "(FID 52 ± 1), differ by 2, less than their standard errors together (2.5; rule: not "
            "separated when |mean₁ − mean₂| < s.e.₁ + s.e.₂") in intro


def test_clearly_separated_trials_are_not_called_unseparated() -> None:
    intro = section([trial(0, "dcgan", "fid", 60.0, 1.0), trial(1, "wgan-gp", "fid", 50.0, 1.5)]).intro
    assert "Not separated" not in intro
    assert "Separated by the seeds: the best trial, wgan-gp (FID 50 ± 1.5), leads the runner-up, dcgan" in intro
    assert "by 10, more than their standard errors together (2.5;" in intro


def test_the_registry_direction_picks_the_best_and_one_seed_leaves_the_spread_unknown() -> None:
    # precision: higher is better, whatever the study index says
    one_seed = [trial(0, "a", "precision", 0.40, 0.0, seeds=1), trial(1, "b", "precision", 0.55, 0.0, seeds=1)]
    result = section(one_seed, objective="precision")
    assert [row[4] for row in result.rows] == ["b", "a"]  # rank order: the higher precision first
    assert "One seed per trial: the spread over seeds is unknown, so whether b is better than the runner-up a" in result.intro
    assert "Not separated" not in result.intro and "Separated by" not in result.intro
    assert "differ" not in section(one_seed[:1], objective="precision").intro  # a single trial: nothing to compare


def test_separation_rule_at_its_edge() -> None:
    best, close, far = TrialResult("x", 10.0, 1.0, 3), TrialResult("y", 11.9, 1.0, 3), TrialResult("z", 12.0, 1.0, 3)
    assert separation("fid", best, close).startswith("Not separated by the seeds")
    assert separation("fid", best, far).startswith("Separated by the seeds")  # |Δ| = s.e. sum: intervals touch


def test_real_data_floor_is_a_row_of_the_best_trials_table() -> None:
    request = FloorRequest("digits5k", 1000, ("fid", "kid"))
    floor = Floor(request, 1000, {"fid": 3.25, "kid": 0.0004, "kid_std": 0.0001}, {"num_fake": 1000})
    result = section([trial(0, "dcgan", "fid", 60.0, 1.0), trial(1, "wgan", "fid", 50.0, 1.5)], floors=(floor,))
    assert result.header == ["rank", "trial", "seeds", "FID", "run", "runs"]
    assert result.rows[-1] == ["—", "real data (1000 images)", "—", "3.25", "—", "digits5k"]
    assert "The real data rows score real images under the same protocol" in result.intro


def summary(name: str, modes: float) -> Any:
    from pathlib import Path

    from ganforge.report.collect import RunSummary

    return RunSummary(name=name, path=Path("/study") / name, config={"data": "stacked:digits5k", "loss": "bce"}, step=10,
                      seconds=1.0, images_per_s=1.0, values={"stacked_modes": modes}, protocols={}, eval_step=10,
                      history={}, final_png=None)


def test_one_best_per_study_report_decided_by_the_objective() -> None:
    from ganforge.report.build import study_best
    from ganforge.report.study import best_trial
    from ganforge.report.table import best_runs, build_table

    # the objective (lowest KL) prefers trial b; the modes ranking of the table would prefer a's runs
    trials = [trial(0, "a", "stacked_kl", 0.30, 0.01), trial(1, "b", "stacked_kl", 0.10, 0.01)]
    best = best_trial({"objective": "stacked_kl", "direction": "minimize"}, trials)
    assert best is not None and best.name == "b" and best.runs == ("b_seed0", "b_seed1")
    assert best.reason == "the study's objective, lowest KL, mean over 2 seeds: 0.100 ± 0.010"
    runs = [summary("a_seed0", 1000), summary("a_seed1", 999), summary("b_seed0", 900), summary("b_seed1", 901)]
    assert [b.run for b in best_runs(runs)[0]] == ["a_seed0"]  # what the star said before
    chosen = study_best(best, runs)
    table = build_table(runs, [chosen])
    assert [row[0] for row, starred in zip(table.rows, table.best, strict=True) if starred] == ["b_seed0", "b_seed1"]
    assert chosen.run == "b" and chosen.dataset == "stacked:digits5k"
