"""The quality benchmarks' --smoke runs end to end in seconds, so the scripts cannot rot unnoticed.

The digit classifiers' first-use training (FD_digits, the Stacked-MNIST modes) is replaced by a fixed
random network here: these tests check the scripts' mechanics, not the numbers they measure.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def scripts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The benchmarks folder importable, quick stand-in classifiers, and a fresh cache folder."""
    from ganforge.metrics import digits, modes
    from ganforge.metrics.digits import DigitNet

    def random_net(*args: object, **kwargs: object) -> tuple[DigitNet, float]:
        torch.manual_seed(0)
        return DigitNet().eval().requires_grad_(False), 0.99

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setattr(digits, "train_digit_classifier", random_net)
    monkeypatch.setattr(modes, "passing_classifier", random_net)
    return tmp_path / "cache"


def test_quality_budget_smoke(scripts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import quality_budget

    out, grids = tmp_path / "quality.json", tmp_path / "grids"
    assert quality_budget.main(["--smoke", "--contestants", "textbook", "preset:dcgan", "--ema", "0.9",
                                "--cache-dir", str(scripts), "--grids", str(grids), "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    names = [r["name"] for r in document["results"]]
    assert names == ["textbook", "preset:dcgan + EMA", "preset:dcgan (raw G)"]
    assert all(r["steps"] == 2 and math.isfinite(r["values"]["fd_digits"]) for r in document["results"])
    assert math.isfinite(document["floor"]["fd_digits"]) and "--smoke" in document["command"]
    assert {p.name for p in grids.iterdir()} == {"quality-textbook.png", "quality-preset-dcgan-EMA.png",
                                                "quality-preset-dcgan-raw-G.png"}
    printed = capsys.readouterr().out
    assert "| fd_digits / textbook |" in printed and "| textbook | 2 |" in printed and "real digits5k" in printed


def test_stacked_mnist_smoke(scripts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import stacked_mnist

    out = tmp_path / "stacked.json"
    assert stacked_mnist.main(["--smoke", "--configs", "best", "--cache-dir", str(scripts),
                               "--grids", str(tmp_path), "--out", str(out)]) == 0
    (record,) = json.loads(out.read_text())["results"]
    assert record["config"] == "best" and record["steps"] == 2 and record["num_samples"] == 64
    assert 1 <= record["modes"] <= 64 and record["kl"] >= 0 and (tmp_path / "stacked-best.png").is_file()
    printed = capsys.readouterr().out
    assert "| DCGAN (PacGAN paper) | 78.9 ± 6.46 | 4.50 ± 0.127 |" in printed
    assert "| PacDCGAN4 (paper) | 1000 | 0.07 |" in printed and "| ganforge best (width 4, batch 8) |" in printed
    assert stacked_mnist.main(["--table", str(out)]) == 0
    assert "ganforge best" in capsys.readouterr().out


def test_ema_check_smoke(scripts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import ema_check

    out = tmp_path / "ema.json"
    assert ema_check.main(["--smoke", "--cache-dir", str(scripts), "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]
    assert set(rows) == {"raw G (no EMA)", "EMA, standing", "EMA, averaged", "EMA, live", "EMA, live, no ramp-up"}
    assert all(math.isfinite(row["fd_digits"][0]) for row in rows.values())
    assert "| EMA, standing |" in capsys.readouterr().out


def test_recipe_ablation_smoke(scripts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import recipe_ablation

    out = tmp_path / "ablation.json"
    assert recipe_ablation.main(["--smoke", "--rows", "textbook", "recipe", "--cache-dir", str(scripts),
                                 "--out", str(out)]) == 0
    records = json.loads(out.read_text())["results"]
    assert [(r["row"], set(r["fd"])) for r in records] == [("textbook", {"raw G"}), ("recipe", {"raw G", "EMA"})]
    assert all(r["steps"] == 2 and all(math.isfinite(v) for v in r["fd"].values()) for r in records)
    assert "| recipe | 2 |" in capsys.readouterr().out


def test_ada_small_data_smoke(scripts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import ada_small_data

    out, figure, grid = tmp_path / "ada.json", tmp_path / "p.png", tmp_path / "grid.png"
    assert ada_small_data.main(["--smoke", "--seeds", "0", "--images", "64", "--cache-dir", str(scripts),
                                "--out", str(out), "--figure", str(figure), "--grid", str(grid)]) == 0
    records = json.loads(out.read_text())["results"]
    assert [r["augment"] for r in records] == ["none", "ada", "diffaug"]
    assert all(math.isfinite(r["values"]["fd_digits"]) for r in records)
    ada = records[1]
    assert [step for step, _ in ada["p_curve"]] == [1, 2, 3, 4] and records[0]["p_curve"] == []
    assert figure.stat().st_size > 1000 and grid.stat().st_size > 1000
    assert "| ada | 1 |" in capsys.readouterr().out
    # --table merges result files (e.g. one process per augmentation) into one table with ratios to none
    halves = tmp_path / "none.json", tmp_path / "ada-only.json"
    document = json.loads(out.read_text())
    for path, augment in zip(halves, ("none", "ada"), strict=True):
        path.write_text(json.dumps({**document, "results": [r for r in records if r["augment"] == augment]}))
    figure.unlink()
    assert ada_small_data.main(["--table", *map(str, halves), "--figure", str(figure)]) == 0
    printed = capsys.readouterr().out
    ratio = records[1]["values"]["fd_digits"] / records[0]["values"]["fd_digits"]
    assert f"| none | 1 | {records[0]['values']['fd_digits']:.4g} | 1 |" in printed
    assert f"| ada | 1 | {records[1]['values']['fd_digits']:.4g} | {ratio:.4g} |" in printed
    assert "diffaug" not in printed and figure.stat().st_size > 1000
