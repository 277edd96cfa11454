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
