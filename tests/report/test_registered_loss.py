"""A loss registered at runtime: `ganforge train --help` lists it, the CLI trains with it, the report shows it."""

from __future__ import annotations

import pytest
import torch.nn.functional as F

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES, GanLoss
from ganforge.report import collect
from ganforge.report.table import build_table

NAME = "softplus-hinge"

SOFT_HINGE = GanLoss(NAME, "hinge with softplus corners (a test loss)",
                     d_loss=lambda real, fake: F.softplus(1 - real).mean() + F.softplus(1 + fake).mean(),
                     g_loss=lambda real, fake: -fake.mean(), d_output=lambda scores: scores)


@pytest.fixture
def tiny_images(tmp_path):
    """Sixteen 32x32 gray PNGs: a folder dataset that trains in a second."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(16):
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8), "L").save(folder / f"{i:02d}.png")
    return folder


def test_a_runtime_loss_reaches_help_training_and_the_report(tmp_path, capsys, tiny_images) -> None:
    LOSSES.register(NAME, SOFT_HINGE)
    try:
        with pytest.raises(SystemExit):
            main(["train", "--help"])
        help_text = " ".join(capsys.readouterr().out.split()).split("options:", 1)[1]
        assert NAME in help_text.split("--loss LOSS", 1)[1].split("--steps", 1)[0]
        run = tmp_path / "runs" / "soft"
        code = main(["train", "--loss", NAME, "--data", f"folder:{tiny_images}", "--width", "8", "--batch-size",
                     "8", "--steps", "2", "--log-every", "1", "--run-dir", str(run), "--no-progress"])
        assert code == 0
        table = build_table(collect([run]).runs, [])
        assert dict(zip(table.header, table.rows[0], strict=True))["loss"] == NAME
    finally:
        LOSSES.unregister(NAME)
    with pytest.raises(GanforgeError, match=f"unknown loss '{NAME}'"):
        from ganforge.config_build import build_config

        build_config({"loss": NAME})
