"""Seeds: a trial trains one run per seed and scores their mean; the report shows mean ± standard error,
for a tune study and for a sweep whose grid has a seed axis."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from studies import load_trials, sqlite_url

from ganforge.sweeps import load_sweep, run_sweep


def training_modes(run_dir: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["modes"] for r in records if r["source"] == "training"}


def test_a_trial_scores_the_mean_over_its_seeds_and_the_report_shows_the_spread(write_study, cli, tmp_path: Path,
                                                                             one_thread, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_study(n_trials=2, seeds=[3, 4], sampler={"name": "grid", "seed": 0}, settings={"steps": 100},
                       search={"lr_g": {"type": "categorical", "choices": [0.003, 0.002], "also": ["lr_d"]}})
    code, out, err = cli("tune", path, "--no-progress")
    assert code == 0, err
    for trial in load_trials(sqlite_url(tmp_path / "out")):
        runs = [tmp_path / "out" / f"trial-{trial.number:04d}_seed{seed}" for seed in (3, 4)]
        curves = [training_modes(run) for run in runs]
        finals = [curve[100] for curve in curves]
        assert trial.user_attrs["seeds"] == [3, 4] and trial.user_attrs["seed_values"] == finals
        assert trial.value == statistics.fmean(finals)
        assert math.isclose(trial.user_attrs["se"], statistics.stdev(finals) / math.sqrt(2))
        # seed 1's evaluations come after seed 0's, as the running mean over the seeds so far
        assert trial.intermediate_values == {50: curves[0][50], 100: curves[0][100],
                                             150: (curves[0][50] + curves[1][50]) / 2,
                                             200: (curves[0][100] + curves[1][100]) / 2}
        mean, se = statistics.fmean(finals), statistics.stdev(finals) / math.sqrt(2)
        assert f"trial {trial.number}: modes {mean:.4g}" in out and "(s.e. over 2 seeds)" in out
        code, report, err = cli("compare", "out", "--out", f"report{trial.number}.html", "--quiet")
        html = (tmp_path / f"report{trial.number}.html").read_text()
        assert f"<td class=\"text\">{mean:.1f} ± {se:.1f}</td>" in html


def test_a_sweep_seed_axis_is_one_trial_reported_as_mean_and_spread(write_yaml, cli, tmp_path: Path,
                                                                   one_thread) -> None:
    path = write_yaml({"name": "seeds", "out": str(tmp_path / "out"), "metrics": ["toy2d"],
                       "evaluation": {"samples": 300},
                       "settings": {"data": "toy2d:ring", "preset": "pacgan2d", "steps": 30, "width": 8,
                                    "batch_size": 16, "device": "cpu", "log_every": 10, "sample_every": 1000},
                       "grid": {"lr_g": [0.003], "seed": [0, 1, 2]}})
    lines: list[str] = []
    (state,) = run_sweep(load_sweep(path), echo=lines.append)
    assert state.name == "pacgan2d_toy2d-ring_lr-g0.003" and state.status == "done"
    hq = [json.loads((tmp_path / "out" / f"pacgan2d_toy2d-ring_lr-g0.003_seed{s}" / "metrics.jsonl").read_text())
          ["high_quality"] for s in range(3)]
    mean, se = statistics.fmean(hq), statistics.stdev(hq) / math.sqrt(3)
    assert lines[-1].startswith("[1/1] pacgan2d_toy2d-ring_lr-g0.003: modes ") and "(s.e. over 3 seeds)" in lines[-1]
    code, _, err = cli("compare", tmp_path / "out", "--out", tmp_path / "report.md", "--quiet")
    assert code == 0, err
    best = (tmp_path / "report.md").read_text().split("## Best trials")[1].split("## ")[0]
    row = next(line for line in best.splitlines() if line.startswith("| 1 |"))
    assert f"| {mean:.1%} ± {se:.1%} |" in row and "| 3 |" in row
