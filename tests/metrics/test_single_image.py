"""One image is not a distribution: fid and evaluate say so in one line instead of a ValueError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge.cli import main
from ganforge.models import MODELS, ModelSpec, save_generator


def pngs(folder: Path, count: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("ganforge: ")]
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: ") and "Traceback" not in err, err
    return lines[0]


def test_fid_with_a_single_image(trunk_path, tmp_path, capsys):
    one, three = pngs(tmp_path / "one", 1), pngs(tmp_path / "three", 3, seed=1)
    # a one-image A is found when its statistics are made; a one-image B before any feature is extracted
    for a, b, message in ((one, three, "has 1 image; Fréchet statistics need at least 2"),
                          (three, one, "metric 'fid' needs at least 2 generated samples, got 1")):
        assert main(["fid", str(a), str(b), "--inception-weights", str(trunk_path), "--cache-dir",
                     str(tmp_path / "cache"), "--no-progress", "--device", "cpu"]) == 2
        assert message in one_line(capsys)


def test_evaluate_with_a_single_sample(trunk_path, tmp_path, capsys):
    spec = ModelSpec(family="dcgan", z_dim=8, resolution=32, channels=1, width=8)
    generator, _ = MODELS.get("dcgan").build(spec)
    run = tmp_path / "run"
    save_generator(run, generator, spec, {"step": 1, "ema": False, "dataset": "digits5k", "config": {}})
    common = ["--inception-weights", str(trunk_path), "--device", "cpu", "--no-progress"]
    assert main(["evaluate", str(run), "--num-samples", "1", "--reference", str(pngs(tmp_path / "ref", 3)),
                 *common]) == 2
    assert "metric 'fid' needs at least 2 generated samples, got 1" in one_line(capsys)
    assert main(["evaluate", str(run), "--num-samples", "2", "--reference", str(pngs(tmp_path / "one", 1)),
                 *common]) == 2
    assert "has 1 image; Fréchet statistics need at least 2" in one_line(capsys)


def test_stats_into_a_read_only_folder(trunk_path, tmp_path, read_only_folder, capsys):
    out = read_only_folder / "ref.npz"
    assert main(["stats", str(pngs(tmp_path / "imgs", 2)), "--out", str(out), "--inception-weights",
                 str(trunk_path), "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--device", "cpu"]) == 2
    line = one_line(capsys)
    assert f"cannot use {out}" in line and ("read-only" in line or "permission denied" in line)
