"""The real-data floor of a sweep: real images of its dataset scored under its own evaluation protocol, once
per protocol, cached in floor.json, shown in the report only under the protocol it was measured with.

FD_digits (with a stand-in classifier, see tests/conftest.py) on a folder of 60 small PNGs keeps each sweep
here to a few seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.metrics import score_images
from ganforge.metrics.floor import DRAW_SEED, FLOOR_FILE
from ganforge.report import build_report
from ganforge.sweeps import floor as sweep_floor
from ganforge.sweeps import load_sweep, run_sweep, write_index
from ganforge.sweeps.floor import floor_requests

IMAGES = 60


@pytest.fixture
def pictures(tmp_path: Path) -> str:
    """--data folder:PATH of 60 random 32x32 grayscale PNGs."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    pixels = torch.randint(0, 256, (IMAGES, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    for index, image in enumerate(pixels):
        Image.fromarray(image.numpy(), "L").save(folder / f"{index:02d}.png")
    return f"folder:{folder}"


def floor_sweep(out: Path, data: str, tiny: dict[str, Any], samples: int = 20, **evaluation: Any) -> dict:
    """A 4-step MLP GAN on ``data``, scored with FD_digits on ``samples`` images vs 40 real."""
    return {"name": "floor", "out": str(out), "metrics": ["fd_digits"],
            "evaluation": {"samples": samples, "reference_samples": 40, "device": "cpu", **evaluation},
            "settings": {**tiny, "steps": 4, "data": data, "cache_dir": str(out.parent / "cache")},
            "grid": {"model": ["mlp"]}}


def real_fd_digits(data: str, counts: list[int], cache: Path) -> dict[int, float]:
    """What the first ``count`` images of the floor's seeded draw score, measured directly."""
    order = torch.randperm(IMAGES, generator=torch.Generator().manual_seed(DRAW_SEED))
    images = load_dataset(data, cache_dir=cache).data
    scores = {}
    for count in counts:
        result = score_images(images[order[:count]], "fd_digits", data, reference_samples=40, cache_dir=cache)
        scores[count] = float(result["fd_digits"])  # type: ignore[arg-type]
    return scores


def floor_rows(report: Path) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in report.read_text().splitlines()
            if line.startswith("| _real data")]


def test_floor_is_measured_once_shown_in_the_report_and_remeasured_for_another_protocol(
        write_sweep, tiny, pictures: str, tmp_path: Path, one_thread, untrained_classifier,
        monkeypatch: pytest.MonkeyPatch) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    lines: list[str] = []
    states = run_sweep(load_sweep(write_sweep(floor_sweep(out, pictures, tiny))), echo=lines.append)
    assert [state.status for state in states] == ["done"]
    assert f"real-data floor of {pictures}: scoring 20 real images (fd_digits)" in lines
    real = real_fd_digits(pictures, [20, 30], cache)
    expected = real[20]
    (entry,) = json.loads((out / FLOOR_FILE).read_text())["floors"]
    assert entry["count"] == 20 and entry["values"]["fd_digits"] == pytest.approx(expected, rel=1e-5)
    assert entry["request"] == {"data": pictures, "samples": 20, "metrics": ["fd_digits"], "resolution": None,
                                "reference": None, "reference_samples": 40, "draw_seed": DRAW_SEED}
    assert entry["protocol"]["digits"]["num_real"] == 40

    report = tmp_path / "report.md"
    build_report([out], report)
    (row,) = floor_rows(report)
    assert row[:3] == ["_real data (20 images)_", "real images", pictures]
    assert f"{expected:.2f}" in row
    html = tmp_path / "report.html"
    build_report([out], html)
    assert html.read_text().count('<tr class="floor">') == 1

    # cached: a second launch measures nothing
    measured: list[Any] = []
    real_measure = sweep_floor.measure_floor
    monkeypatch.setattr(sweep_floor, "measure_floor", lambda *a, **k: measured.append(a) or real_measure(*a, **k))
    run_sweep(load_sweep(write_sweep(floor_sweep(out, pictures, tiny))), echo=lines.append)
    assert measured == []

    # another protocol (N = 30): measured anew, and the report shows that floor alone
    run_sweep(load_sweep(write_sweep(floor_sweep(out, pictures, tiny, samples=30))), echo=lines.append)
    assert len(measured) == 1 and len(json.loads((out / FLOOR_FILE).read_text())["floors"]) == 2
    build_report([out], report, overwrite=True)
    (row,) = floor_rows(report)
    assert row[0] == "_real data (30 images)_" and f"{real[30]:.2f}" in row

    # a plan whose protocol no floor was measured under (yet): no real data row, a note instead
    write_index(load_sweep(write_sweep(floor_sweep(out, pictures, tiny, samples=30, reference_samples=50))))
    build_report([out], report, overwrite=True)
    assert floor_rows(report) == []
    assert f"No real-data floor under this evaluation protocol yet for {pictures}" in report.read_text()
    assert len(measured) == 1


def test_floor_can_be_turned_off_and_must_be_a_boolean(write_sweep, tiny, cli, tmp_path: Path) -> None:
    document = {**floor_sweep(tmp_path / "out", "digits5k", tiny), "grid": {"model": ["mlp"], "seed": [0, 1]}}
    assert len(floor_requests(load_sweep(write_sweep(document)))) == 1
    off = write_sweep({**document, "evaluation": {**document["evaluation"], "floor": False}}, name="off.yaml")
    assert floor_requests(load_sweep(off)) == []
    code, stdout, _ = cli("sweep", off, "--dry-run")
    assert code == 0 and stdout.splitlines()[-1] == "real-data floor: off (evaluation: floor: false)"
    code, stdout, _ = cli("sweep", write_sweep(document), "--dry-run")
    assert code == 0 and stdout.splitlines()[-1] == ("real-data floor of digits5k: 20 real images under the same "
                                                     "protocol [to measure after the runs]")
    bad = write_sweep({**document, "evaluation": {**document["evaluation"], "floor": "yes"}}, name="bad.yaml")
    with pytest.raises(GanforgeError, match=r"evaluation\.floor must be true or false, got 'yes'"):
        load_sweep(bad)


def test_the_committed_study_files_are_valid_sweeps_with_a_floor() -> None:
    root = Path(__file__).resolve().parents[2] / "examples"
    for path in (root / "digits5k-study" / "sweep.yaml", root / "digits5k-losses" / "sweep.yaml"):
        sweep = load_sweep(path)
        assert {run.config.seed for run in sweep.runs} == {0, 1} and len(sweep.runs) == 6
        (request,) = floor_requests(sweep)
        assert (request.data, request.samples, request.reference_samples) == ("digits5k", 1000, None)
        # each run is evaluated at least three times during training, with the study's metrics
        assert all(run.config.steps // run.config.eval_every >= 3 for run in sweep.runs)
        assert all(run.config.eval_metrics == "fid,kid,pr" for run in sweep.runs)
