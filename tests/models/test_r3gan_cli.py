"""r3gan and the resolutions from the command line: the paper's FFHQ-256 networks in --dry-run, bad flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge.cli import main


def photos(folder: Path, num: int = 3, size: int = 80) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(num):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_dry_run_prints_the_ffhq256_networks_with_the_papers_counts(tmp_path: Path, capsys) -> None:
    data = photos(tmp_path / "faces")
    assert main(["train", "--preset", "r3gan-ffhq256", "--data", f"folder:{data}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "resolution: 256" in out and "data: folder:" in out and "3x256x256" in out
    # the counts of brownvc/R3GAN's FFHQ-256 networks (tests/models/test_r3gan.py says how they were made)
    assert ("# generator: R3GANGenerator, 23,057,952 parameters, no spectral norm, no normalization layers, "
            "14 grouped convs") in out
    assert "# discriminator: R3GANDiscriminator, 23,009,568 parameters" in out
    assert "#   stages.6: 148,224" in out  # G's 256 px stage: 96 channels
    assert not list(tmp_path.glob("runs*"))  # nothing trained, nothing written


def test_dry_run_counts_normalization_layers_of_other_families(tmp_path: Path, capsys) -> None:
    data = photos(tmp_path / "faces")
    assert main(["train", "--model", "dcgan", "--data", f"folder:{data}", "--resolution", "128", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "# generator: DCGANGenerator" in out and "5 normalization layers" in out and "grouped" not in out


@pytest.mark.parametrize(("flags", "message"), [
    (["--model", "r3gan", "--stage-widths", "64,x"], "model option stage_widths must be whole numbers separated by commas"),
    (["--model", "r3gan", "--stage-widths", "64,64"], "lists 2 stages, but 32 px has 4"),
    (["--model", "dcgan", "--stage-widths", "64,64,64,64"], "model dcgan has no option 'stage_widths'"),
    (["--model", "sngan", "--resolution", "96"], "sngan builds 32x32 or 48x48 or 64x64 or 128x128 images"),
    (["--model", "dcgan", "--width", "600"], "dcgan takes --width up to 512"),
])
def test_bad_model_flags_are_one_line_errors(flags: list[str], message: str, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--data", "digits5k", "--steps", "1", "--run-dir", str(run_dir), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not run_dir.exists()


def test_help_lists_each_familys_sizes_from_its_registry_entry(capsys) -> None:
    from ganforge.models import MODELS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in MODELS.names():
        sizes = "/".join(map(str, MODELS.get(name).resolutions))
        assert f"{name} ({sizes} px images" in text
    assert "sngan (32/48/64/128 px images)" in text and "r3gan (16/32/64/128/256 px images)" in text


def test_r3gan_goes_above_256_px_only_with_stage_widths(tmp_path: Path, capsys) -> None:
    data = photos(tmp_path / "faces", num=2)
    base = ["train", "--model", "r3gan", "--resolution", "512", "--data", f"folder:{data}", "--dry-run"]
    assert main(base) == 2
    assert "r3gan builds 512x512 images with --stage-widths only (8 channel counts" in capsys.readouterr().err
    assert main([*base, "--stage-widths", "32,32,32,32,16,8,8,8"]) == 0
    assert "3x512x512" in capsys.readouterr().out
