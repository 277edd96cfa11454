"""A short real training run writes the whole run-folder contract."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

from ganforge.cli import main
from ganforge.config_build import build_config
from ganforge.loader import load_generator
from ganforge.training import train

TINY = {"width": 8, "batch_size": 16, "z_dim": 16, "log_every": 5, "sample_every": 10, "checkpoint_every": 20}


@pytest.fixture(scope="module")
def run_30(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "r30"
    code = main(["train", "--steps", "30", "--run-dir", str(run_dir), "--no-progress",
                 *[f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]])
    assert code == 0
    return run_dir


def test_every_artifact_is_written(run_30):
    for name in ("config.yaml", "history.csv", "samples/final.png", "progress.gif", "loss_curves.png",
                 "checkpoints/last.pt", "checkpoints/step_0000020.pt", "generator.safetensors",
                 "generator.json"):
        assert (run_30 / name).is_file(), name
    assert sorted(p.name for p in (run_30 / "samples").glob("step_*.png")) == [
        "step_0000010.png", "step_0000020.png", "step_0000030.png"]
    assert any((run_30 / "tb").glob("events.out.tfevents.*"))
    assert not list(run_30.rglob("*.tmp")), "temporary files left behind"


def test_config_yaml_is_fully_resolved(run_30):
    saved = yaml.safe_load((run_30 / "config.yaml").read_text())
    assert saved["steps"] == 30 and saved["width"] == 8 and saved["model"] == "dcgan"
    assert saved["lr_g"] == 4e-4 and saved["betas"] == [0.5, 0.999]  # defaults spelled out
    assert saved["precision"] == "auto" and saved["ema"] == 0.999 and saved["preset"] is None
    assert saved["torch_version"] == str(torch.__version__) and "ganforge_version" in saved
    # and it is a valid config again (re-running a run from its config.yaml)
    assert build_config(saved).steps == 30


def test_history_rows(run_30):
    with open(run_30 / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "lr", "seconds",
                             "images_per_s"]
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20, 25, 30]
    for row in rows:
        assert np.isfinite([float(row[k]) for k in ("loss_d", "loss_g", "d_real", "d_fake")]).all()
        assert 0.0 <= float(row["d_real"]) <= 1.0  # a probability for the BCE loss
        assert float(row["images_per_s"]) > 0
    assert float(rows[-1]["epoch"]) == pytest.approx(30 * 16 / 5000, abs=1e-3)


def test_sample_grid_and_gif(run_30):
    grid = Image.open(run_30 / "samples" / "final.png")
    # 64 samples in an 8x8 grid of 32px tiles with 2px padding
    assert grid.size == (8 * 34 + 2, 8 * 34 + 2)
    gif = Image.open(run_30 / "progress.gif")
    assert gif.n_frames == 3  # one frame per step grid (final.png repeats step 30)


def test_generator_artifact_loads_without_pickle(run_30):
    generator, info = load_generator(run_30)
    assert info.spec.family == "dcgan" and info.spec.resolution == 32 and info.meta["step"] == 30
    out = generator(torch.randn(3, 16))
    assert out.shape == (3, 1, 32, 32) and out.abs().max() <= 1
    tensors = load_file(str(run_30 / "generator.safetensors"))
    checkpoint = torch.load(run_30 / "checkpoints" / "last.pt", weights_only=True)
    # the artifact is the generator samples come from: the default recipe's EMA copy of G
    assert checkpoint["generator_ema"].keys() == tensors.keys()
    for name, value in checkpoint["generator_ema"].items():
        assert torch.equal(tensors[name], value)
    assert json.loads((run_30 / "generator.json").read_text())["format"] == "ganforge-generator"


def test_same_seed_same_history(tmp_path):
    def losses(run_dir):
        train(build_config(TINY, {"steps": 10, "run_dir": str(run_dir)}), progress=False)
        with open(run_dir / "history.csv", newline="") as handle:
            return [(r["loss_d"], r["loss_g"]) for r in csv.DictReader(handle)]

    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    changed = build_config(TINY, {"steps": 10, "run_dir": str(tmp_path / "c"), "seed": 1})
    train(changed, progress=False)
    with open(tmp_path / "c" / "history.csv", newline="") as handle:
        assert [(r["loss_d"], r["loss_g"]) for r in csv.DictReader(handle)] != losses(tmp_path / "d")
