"""A 6-trial toy2d study with a median pruner: it finishes, stops the hopeless trials (a learning rate of
1e-9 never moves the generator off the origin, so it captures no mode) from their evaluations during
training, and leaves each pruned trial's folder a run that `ganforge train --resume` continues."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from studies import load_trials, sqlite_url

from ganforge.metrics.records import generator_step

HOPELESS = 1e-9


def history_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "history.csv", newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


def final_modes(run_dir: Path, step: int) -> int:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return next(r["modes"] for r in records if r["step"] == step and r["source"] == "training")


def test_median_pruner_stops_hopeless_trials_and_their_folders_resume(write_study, cli, tmp_path: Path,
                                                                      one_thread, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_study(n_trials=6, sampler={"name": "grid", "seed": 0},
                       pruner={"name": "median", "n_startup_trials": 2, "n_warmup_steps": 25},
                       settings={"eval_every": 25},
                       search={"lr_g": {"type": "categorical", "choices": [0.003, HOPELESS, 0.002], "also": ["lr_d"]},
                               "z_dim": [4, 8]})
    code, out, err = cli("tune", path, "--no-progress")
    assert code == 0, err
    assert "tune ring: 6/6 trials finished (" in out and "compare the trials with: ganforge compare out" in out
    trials = load_trials(sqlite_url(tmp_path / "out"))
    states = {t.number: t.state.name for t in trials}
    assert len(trials) == 6 and set(states.values()) <= {"COMPLETE", "PRUNED"}, states
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    hopeless = [t for t in pruned if t.params["lr_g"] == HOPELESS]
    assert hopeless, f"no hopeless trial was pruned: {[(t.number, t.params, t.state.name) for t in trials]}"
    for trial in pruned:
        stopped = max(trial.intermediate_values)
        assert stopped < 200 and f"trial {trial.number}: pruned at step {stopped} (modes " in out
    for trial in trials:  # the value is the last evaluation during training, the metric's direction kept
        if trial.state.name == "COMPLETE":
            assert trial.value == final_modes(tmp_path / "out" / f"trial-{trial.number:04d}", 200)
            assert sorted(trial.intermediate_values) == list(range(25, 201, 25))

    # The pruned run is an ordinary run folder, checkpointed at the evaluation that stopped it.
    trial = hopeless[0]
    run_dir = tmp_path / "out" / f"trial-{trial.number:04d}"
    stopped = max(trial.intermediate_values)
    assert generator_step(run_dir) == stopped and (run_dir / "checkpoints" / "last.pt").is_file()
    code, _, err = cli("train", "--run-dir", run_dir, "--resume", "--steps", stopped + 25, "--no-progress")
    assert code == 0, err
    assert generator_step(run_dir) == stopped + 25
    assert history_steps(run_dir) == list(range(25, stopped + 26, 25))  # a row at every evaluation

    # compare: the best trials, the pruned ones and Optuna's figures next to the per-run report
    code, out, err = cli("compare", "out", "--out", "report.md")
    assert code == 0, err
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# Study ring")
    for section in ("## Best trials", "## Pruned trials", "## Optimization history", "## Parameter importances",
                    "## Intermediate values", "## Results"):
        assert section in report, section
    best = max((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    first_row = next(line for line in report.splitlines() if line.startswith("| 1 |"))
    assert first_row.startswith(f"| 1 | {best.number} | 1 | {best.value:.0f} |")
    pruned_rows = report.split("## Pruned trials")[1].split("## ")[0]
    assert f"| {trial.number} | {stopped} | 0 |" in pruned_rows
    assert (tmp_path / "report_files" / "study-plot_intermediate_values.png").stat().st_size > 1000
