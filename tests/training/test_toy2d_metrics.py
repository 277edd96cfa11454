"""PacGAN 2-D metrics on hand-made samples, and ``ganforge evaluate`` on a real (tiny) run."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from ganforge.cli import main
from ganforge.data.toy2d import toy2d_modes
from ganforge.metrics.toy2d import mode_histogram, nearest_modes, reverse_kl, toy2d_scores


def _around(centers: torch.Tensor, counts: list[int], spread: float, seed: int = 0) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    parts = [centers[k] + spread * torch.randn(n, 2, generator=rng) for k, n in enumerate(counts) if n]
    return torch.cat(parts)


def test_all_eight_modes_evenly() -> None:
    centers, std = toy2d_modes("ring")
    scores = toy2d_scores(_around(centers, [100] * 8, std / 10), centers, std)
    assert (scores.modes, scores.num_modes, scores.samples) == (8, 8, 800)
    assert scores.high_quality == 1.0
    assert scores.reverse_kl == pytest.approx(0.0, abs=1e-12)


def test_one_mode_only() -> None:
    centers, std = toy2d_modes("ring")
    scores = toy2d_scores(_around(centers, [0, 0, 0, 250, 0, 0, 0, 0], std / 10), centers, std)
    assert scores.modes == 1
    assert scores.reverse_kl == pytest.approx(math.log(8))


def test_off_mode_points_are_not_high_quality() -> None:
    centers, std = toy2d_modes("grid")
    on = centers[:4] + torch.tensor([2.9 * std, 0.0])  # just inside 3 std
    off = torch.tensor([[1.0, 1.0], [3.0, -3.0], [0.0, 3 * std + 1e-3]])  # between modes / just outside
    scores = toy2d_scores(torch.cat([on, off]), centers, std)
    assert scores.high_quality == pytest.approx(4 / 7)
    assert scores.modes == 4  # off-mode points capture nothing, even mode 12 at (0, 0)
    assert scores.reverse_kl == pytest.approx(math.log(25 / 4))


def test_reverse_kl_handles_zero_counts_and_unevenness() -> None:
    counts = torch.tensor([3, 1, 0, 0])
    p = torch.tensor([0.75, 0.25])
    assert reverse_kl(counts) == pytest.approx(float((p * torch.log(p * 4)).sum()))
    assert math.isnan(reverse_kl(torch.zeros(8, dtype=torch.long)))
    # only high-quality samples count toward the histogram
    nearest, distance = nearest_modes(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]), toy2d_modes("ring")[0])
    assert mode_histogram(nearest, distance <= 0.03, 8).tolist() == [1, 0, 1, 0, 0, 0, 0, 0]


def test_no_high_quality_sample_gives_undefined_kl() -> None:
    centers, std = toy2d_modes("ring")
    scores = toy2d_scores(torch.full((10, 2), 5.0), centers, std)
    assert (scores.modes, scores.high_quality) == (0, 0.0)
    assert scores.to_dict()["reverse_kl"] is None


def test_evaluate_command_on_a_toy2d_run(tmp_path, capsys) -> None:
    run_dir = tmp_path / "ring"
    argv = ["train", "--model", "mlp", "--data", "toy2d:ring", "--z-dim", "2", "--width", "8", "--steps", "20",
            "--batch-size", "50", "--run-dir", str(run_dir), "--no-progress", "--ema-kimg", "1",
            "--device", "cpu"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--samples", "500"]) == 0
    printed = capsys.readouterr().out
    assert "toy2d:ring step 20 (EMA): modes" in printed and "reverse KL" in printed
    assert main(["evaluate", str(run_dir), "--seed", "1"]) == 0
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["kind"] == "points" and first["protocol"]["name"] == "pacgan-2d" and first["ema"] is True
    assert (first["protocol"]["num_fake"], second["protocol"]["num_fake"], second["seed"]) == (500, 2500, 1)
    assert 0 <= first["modes"] <= first["num_modes"] == 8 and 0 <= first["high_quality"] <= 1


def test_evaluate_run_is_the_registered_toy2d_metric_on_seeded_samples(tmp_path) -> None:
    from ganforge.errors import GanforgeError
    from ganforge.loader import load_generator
    from ganforge.metrics import evaluate_run, score_generator
    from ganforge.metrics.toy2d import sample_points

    run_dir = tmp_path / "grid"
    assert main(["train", "--model", "mlp", "--data", "toy2d:grid", "--z-dim", "2", "--width", "8", "--steps", "10",
                 "--batch-size", "50", "--run-dir", str(run_dir), "--no-progress", "--device", "cpu"]) == 0
    record = evaluate_run(run_dir, "auto", num_samples=400, seed=3, device="cpu")
    assert (record["source"], record["kind"], record["dataset"], record["seed"]) == ("evaluate", "points", "toy2d:grid", 3)
    assert record["protocol"]["name"] == "pacgan-2d" and record["protocol"]["num_fake"] == 400
    generator, _ = load_generator(run_dir)
    centers, std = toy2d_modes("grid")
    expected = toy2d_scores(sample_points(generator, 400, seed=3), centers, std).to_dict()
    assert {k: record[k] for k in ("modes", "num_modes", "high_quality", "reverse_kl")} == pytest.approx(
        {k: expected[k] for k in ("modes", "num_modes", "high_quality", "reverse_kl")})
    assert not (run_dir / "metrics.jsonl").exists()  # a library call appends only when asked to
    assert score_generator(generator, "toy2d", data="toy2d:grid")["protocol"]["num_fake"] == 2500  # PacGAN's N
    with pytest.raises(GanforgeError, match="--metrics fid needs images, but toy2d:grid is 2-D points"):
        evaluate_run(run_dir, "fid", device="cpu")


def test_evaluate_refuses_what_it_cannot_measure(tmp_path, capsys) -> None:
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "ganforge: error: no run, checkpoint or generator at" in capsys.readouterr().err


def test_eval_every_on_a_toy2d_run_scores_the_pacgan_metrics(tmp_path, capsys) -> None:
    """--eval-every on 2-D data logs modes/HQ/reverse KL; the last one equals `ganforge evaluate`'s."""
    run_dir = tmp_path / "grid"
    argv = ["train", "--model", "mlp", "--data", "toy2d:grid", "--z-dim", "2", "--width", "8", "--steps", "30",
            "--batch-size", "50", "--run-dir", str(run_dir), "--no-progress", "--eval-every", "15",
            "--log-every", "5", "--ema", "0.9", "--device", "cpu"]
    assert main(argv) == 0
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [15, 30]
    assert records[0]["protocol"]["name"] == "pacgan-2d" and records[0]["protocol"]["num_fake"] == 2500
    with open(run_dir / "history.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["high_quality"]]
    assert [int(r["step"]) for r in rows] == [15, 30]
    assert (run_dir / "high_quality_curve.png").is_file()
    assert not (run_dir / "checkpoints" / "best.pt").exists()
    capsys.readouterr()
    assert main(["evaluate", str(run_dir)]) == 0
    final = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert (final["modes"], final["high_quality"]) == (records[-1]["modes"], records[-1]["high_quality"])
    assert final["reverse_kl"] == pytest.approx(records[-1]["reverse_kl"])


@pytest.mark.parametrize(("data", "metrics", "message"), [
    ("toy2d:ring", "fid", "--eval-metrics fid needs images, but toy2d:ring is 2-D points; use toy2d or auto"),
    ("digits5k", "toy2d", "--eval-metrics toy2d needs 2-D points, but digits5k is images; use is, fid, kid"),
])
def test_eval_metrics_must_fit_the_data(tmp_path, capsys, data, metrics, message) -> None:
    argv = ["train", "--data", data, "--eval-every", "5", "--eval-metrics", metrics, "--run-dir",
            str(tmp_path / "r"), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "r").exists()
