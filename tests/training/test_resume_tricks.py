"""Resume stays exact with EMA, DiffAugment, penalties, clipping, packing and conditioning on."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from safetensors.torch import load_file

from ganforge.cli import main

TINY = ["--width", "8", "--batch-size", "4", "--z-dim", "8", "--log-every", "1", "--sample-every", "100",
        "--checkpoint-every", "100", "--no-progress", "--device", "cpu"]
LOSS_COLUMNS = ("step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "penalty_gp", "penalty_r1")


def _history(run_dir) -> list[tuple[str, ...]]:
    with open(run_dir / "history.csv", newline="") as handle:
        return [tuple(row.get(c, "") for c in LOSS_COLUMNS) for row in csv.DictReader(handle)]


def _checkpoint(run_dir) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


@pytest.mark.parametrize("options", [
    ["--loss", "wasserstein", "--gp", "10", "--n-critic", "2", "--ema-kimg", "0.02", "--augment", "diffaug"],
    ["--loss", "hinge", "--r1", "1", "--pack", "2", "--clip", "0.5", "--spectral-norm", "--model", "resnet"],
    ["--conditional", "--ema-kimg", "0.05", "--augment", "diffaug", "--r1", "0.1"],
], ids=["gp-ema-diffaug", "r1-pack-clip-sn", "conditional-ema"])
def test_resume_matches_uninterrupted_run(options: list[str], tmp_path, tiny_data) -> None:
    full, split = tmp_path / "full", tmp_path / "split"
    assert main(["train", "--steps", "7", "--run-dir", str(full), *TINY, *options]) == 0
    assert main(["train", "--steps", "3", "--run-dir", str(split), *TINY, *options]) == 0
    assert main(["train", "--steps", "7", "--run-dir", str(split), "--resume", *TINY, *options]) == 0
    assert _history(split) == _history(full)
    if "--gp" in options or "--r1" in options:
        assert all(row[-1] != "" or row[-2] != "" for row in _history(full))  # the penalty is logged
    a, b = _checkpoint(full), _checkpoint(split)
    for part in ("generator", "discriminator", "generator_ema"):
        if part not in a:
            assert "--ema-kimg" not in options
            continue
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    assert torch.equal(a["aux_rng"], b["aux_rng"]) and torch.equal(a["noise_rng"], b["noise_rng"])


def test_saved_generator_is_the_ema_copy(tmp_path, tiny_data) -> None:
    run_dir = tmp_path / "ema"
    assert main(["train", "--steps", "4", "--run-dir", str(run_dir), *TINY, "--ema-kimg", "0.1"]) == 0
    meta = json.loads((run_dir / "generator.json").read_text())
    assert meta["ema"] is True
    saved = load_file(str(run_dir / "generator.safetensors"))
    state = _checkpoint(run_dir)
    for key, value in saved.items():
        assert torch.equal(value, state["generator_ema"][key]), key
    assert any(not torch.equal(saved[k], state["generator"][k]) for k in saved)


def test_resume_refuses_turning_on_ema(tmp_path, tiny_data, capsys) -> None:
    run_dir = tmp_path / "r"
    assert main(["train", "--steps", "2", "--run-dir", str(run_dir), *TINY, "--ema", "0"]) == 0
    assert main(["train", "--steps", "4", "--run-dir", str(run_dir), "--resume", *TINY, "--ema-kimg", "1"]) == 2
    assert "cannot change ema_kimg when resuming" in capsys.readouterr().err
