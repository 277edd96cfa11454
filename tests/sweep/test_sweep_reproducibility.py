"""A run's config.yaml is a complete recipe: `ganforge train --config RUN/config.yaml --run-dir NEW` trains
the same run again, row for row (timings aside), for a run made by a sweep as for any other."""

from __future__ import annotations

import csv
from pathlib import Path

from safetensors.torch import load_file

from ganforge.sweeps import load_sweep, run_sweep

TIMING_COLUMNS = {"seconds", "images_per_s"}


def history(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(handle)]


def test_config_yaml_reruns_a_sweep_run_identically(write_sweep, cli, tiny, tmp_path: Path, one_thread) -> None:
    sweep = load_sweep(write_sweep({
        "name": "repro", "out": str(tmp_path / "out"),
        "settings": {**tiny, "steps": 6, "log_every": 1, "sample_every": 3},
        "grid": {"preset": ["dcgan"], "data": ["digits5k"], "seed": [3]},
    }))
    (state,) = run_sweep(sweep, echo=lambda line: None)
    assert state.status == "done"
    original = sweep.runs[0].run_dir
    again = tmp_path / "again"
    code, out, err = cli("train", "--config", original / "config.yaml", "--run-dir", again, "--no-progress")
    assert code == 0, err

    rows = history(original)
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert history(again) == rows
    weights, repeated = load_file(str(original / "generator.safetensors")), load_file(str(again / "generator.safetensors"))
    assert weights.keys() == repeated.keys()
    assert all(weights[k].equal(repeated[k]) for k in weights)
    for grid in ("samples/step_0000003.png", "samples/final.png"):
        assert (original / grid).read_bytes() == (again / grid).read_bytes()
