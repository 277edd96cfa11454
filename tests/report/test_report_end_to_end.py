"""A real sweep, measured with the real FID Inception, compared in HTML and Markdown, and the HTML opened
from disk in headless Chromium."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from ganforge.data import load_dataset
from ganforge.metrics import score_images
from ganforge.metrics.floor import DRAW_SEED
from ganforge.metrics.records import read_metric_records

RUNS = ["dcgan_digits5k", "mlp_digits5k"]
METRIC_COLUMNS = ("FID", "KID", "precision", "recall", "density", "coverage")


def test_each_sweep_run_is_measured_with_values_and_protocol(image_sweep: Path) -> None:
    for name in RUNS:
        (record,) = read_metric_records(image_sweep / name / "metrics.jsonl")
        assert record.step == 6 and record.kind == "image"
        assert record.raw["source"] == "evaluate"  # measured through `ganforge evaluate`'s API
        assert {"fid", "kid", "precision", "recall", "density", "coverage"} <= set(record.values)
        assert all(record.values[k] is not None for k in ("fid", "kid", "precision", "recall"))
        protocol = record.protocol
        assert (protocol["num_fake"], protocol["num_real"], protocol["reference_dataset"]) == (10, 10, "digits5k")
        assert protocol["feature_extractor"].startswith("FID Inception") and len(protocol["weights_sha256"]) == 64
    # the sweep's study records each run as a finished trial scored by its FID (the ranking metric)
    import optuna

    index = json.loads((image_sweep / "study.json").read_text())
    trials = optuna.load_study(study_name=index["study_name"], storage=index["storage"]).get_trials()
    assert [(t.params["run"], t.state.name) for t in trials] == [(n, "COMPLETE") for n in RUNS]
    assert trials[0].value == read_metric_records(image_sweep / RUNS[0] / "metrics.jsonl")[0].values["fid"]


def test_compare_reports_every_run_and_metric(image_sweep: Path, cli, tmp_path: Path) -> None:
    out_md = tmp_path / "report.md"
    code, out, err = cli("compare", image_sweep, "--out", out_md)
    assert code == 0, err
    text = out_md.read_text()
    assert text.startswith("# Sweep tiny-image\n") and "two models on digits5k" in text
    fids = {name: read_metric_records(image_sweep / name / "metrics.jsonl")[0].values["fid"] for name in RUNS}
    winner = min(fids, key=fids.get)
    # one best per study report: the sweep's objective (FID, one seed per run) decides it
    assert f"- Best on **digits5k**: **{winner}** — decided by the study's objective, lowest FID: " \
           f"{fids[winner]:.2f}" in text
    assert text.count("- Best on ") == 1
    table = [line for line in text.splitlines() if line.startswith("| ") and "| digits5k | bce |" in line]
    assert len(table) == len(RUNS)
    for name, line in zip(RUNS, table, strict=True):
        assert name in line and f"| {fids[name]:.2f} |" in line
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[7] == "—"  # IS: the cached Inception trunk has no logits, so it was not asked for
        assert all(c not in ("", "—") for c in cells[8:14]), line  # FID, KID, precision, recall, density, coverage
        assert cells[-1] == "P1"
    assert "- **P1**: N fake 10 / N real 10; FID Inception" in text
    assert "  - ⚠ fid: generated: 10 samples for 2048-d features: the covariance is singular" in text
    # The real-data floor: 10 digits5k images (the floor's fixed draw) scored under the runs' protocol, by
    # the same call a user would make; its row shares the runs' protocol label.
    images = load_dataset("digits5k").data[torch.randperm(5000, generator=torch.Generator().manual_seed(DRAW_SEED))[:10]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 10 samples: the same warnings the protocol records
        real = score_images(images, "fid,kid,pr,dc", "digits5k", reference_samples=10, device="cpu")
    (floor,) = [line for line in text.splitlines() if line.startswith("| _real data (10 images)_ |")]
    cells = [c.strip() for c in floor.strip("|").split("|")]
    assert cells[1:3] == ["real images", "digits5k"] and cells[-1] == "P1"
    assert cells[8] == f"{real['fid']:.2f}" and cells[10] == f"{real['precision']:.3f}"
    assert real["fid"] < min(fids.values())  # real digits score better than 6-step generators
    # The terminal table printed by the command carries the same rows; the floor is not counted as a run.
    assert all(name in out for name in RUNS) and out.splitlines()[-1].startswith(f"wrote {out_md}: 2 runs")


@pytest.mark.browser
def test_html_report_opens_from_disk_in_chromium(image_sweep: Path, cli, browser, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    code, _, err = cli("compare", image_sweep, "--out", out, "--quiet")
    assert code == 0, err
    browser.get(out.resolve().as_uri())
    assert browser.title == "Sweep tiny-image"
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('table.runs tbody tr.run')).map("
        "r => Array.from(r.cells).map(c => c.textContent.trim()))")
    assert [row[0].lstrip("★ ") for row in rows] == RUNS
    header = browser.execute_script(
        "return Array.from(document.querySelectorAll('table.runs thead th')).map(c => c.textContent)")
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        assert all(cells[c] != "—" for c in METRIC_COLUMNS), cells
    assert browser.execute_script("return document.querySelectorAll('table.runs tr.best').length") == 1
    floor = browser.execute_script("return Array.from(document.querySelectorAll('table.runs tr.floor')).map("
                                   "r => r.cells[0].textContent.trim())")
    assert floor == ["real data (10 images)"]
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.src.slice(0, 22)])")
    assert len(images) == len(RUNS) + 3  # final grids + loss curves + FID figure + the study's optimization history
    assert all(complete and width > 0 and src == "data:image/png;base64," for complete, width, src in images), images
    # Nothing was fetched: the only resources the page has are inline.
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [name for name in fetched if not name.startswith("data:")] == []
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
