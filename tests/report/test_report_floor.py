"""A sweep's real-data floor in the comparison report, on synthetic folders: a row of the results table under
the runs' protocol label, a line of the FID figure, and absent when it was measured under another protocol."""

from __future__ import annotations

import json
from pathlib import Path

from ganforge.metrics.floor import Floor, FloorRequest
from ganforge.metrics.floor import write_floors as save_floors
from ganforge.report import build_report, collect, summary_line
from ganforge.report.figures import plot_curves

CURVE = [{"source": "training", "step": s, "train_seconds": 2.0 * s, "fid": 120.0 - s / 2} for s in (50, 100)]
FINAL = {"step": 100, "fid": 70.0, "kid": 0.05, "kid_std": 0.002, "precision": 0.2, "recall": 0.1}
REQUEST = FloorRequest("digits5k", 500, ("fid", "kid", "pr"), reference_samples=1000)


def sweep_folder(make_run, tmp_path: Path, requests: list[FloorRequest]) -> Path:
    """Two measured runs, a sweep.json asking for ``requests`` and a floor.json holding REQUEST's floor under
    the runs' own protocol."""
    sweep = tmp_path / "sweep"
    for name in ("dcgan_digits5k", "wgan_digits5k"):
        make_run(name, parent=sweep, metrics=[*CURVE, FINAL])
    index = {"format": "ganforge-sweep", "name": "demo", "floors": [r.key() for r in requests],
             "runs": [{"name": n, "run_dir": n, "axes": {}} for n in ("dcgan_digits5k", "wgan_digits5k")]}
    (sweep / "sweep.json").write_text(json.dumps(index))
    protocol = collect([sweep]).runs[0].protocols["fid"]
    values = {"fid": 4.5, "kid": 0.0003, "kid_std": 0.0002, "precision": 0.81, "recall": 0.79}
    save_floors(sweep, [Floor(REQUEST, 500, values, protocol)])
    return sweep


def test_floor_row_shares_the_runs_protocol_and_ranks_nothing(make_run, tmp_path: Path) -> None:
    sweep = sweep_folder(make_run, tmp_path, [REQUEST])
    content = build_report([sweep], tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    (row,) = [line for line in text.splitlines() if line.startswith("| _real data")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    header = content.table.header
    shown = dict(zip(header, cells, strict=True))
    assert shown["run"] == "_real data (500 images)_" and shown["dataset"] == "digits5k"
    assert (shown["FID"], shown["KID"], shown["precision"], shown["steps"]) == ("4.50", "0.0003 ± 0.0002", "0.810", "—")
    assert shown["protocol"] == "P1" and len(content.table.protocols) == 1  # the runs' protocol, one legend entry
    assert [b.run for b in content.best] == ["dcgan_digits5k"]  # the floor is better but is no run
    assert summary_line(content).startswith("2 runs;")
    assert "Real data rows: images drawn with a fixed seed from the dataset's training set" in text
    fid = next(p for p in content.figures if p.name == "fid.png")
    assert "Grey lines: real data (500 images), real images scored under the sweep's evaluation protocol" in fid.caption
    html = build_report([sweep], tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text().count('<tr class="floor">') == 1 and html.table.floor == [False, False, True]


def test_the_figure_draws_the_floor_line(make_run, tmp_path: Path) -> None:
    sweep = sweep_folder(make_run, tmp_path, [REQUEST])
    collection = collect([sweep])
    assert plot_curves(collection.runs, tmp_path / "with.png", "fid", collection.floors) is not None
    assert plot_curves(collection.runs, tmp_path / "without.png", "fid") is not None
    assert (tmp_path / "with.png").read_bytes() != (tmp_path / "without.png").read_bytes()


def test_a_floor_of_another_protocol_is_not_shown(make_run, tmp_path: Path) -> None:
    other = FloorRequest("digits5k", 500, ("fid", "kid", "pr"), reference_samples=None)
    sweep = sweep_folder(make_run, tmp_path, [other])
    content = build_report([sweep], tmp_path / "report.md")
    assert content.table.floor == [False, False] and content.floors == []
    assert "No real-data floor under this evaluation protocol yet for digits5k" in " ".join(content.notes)
