"""An r3gan run folder through ``ganforge generate`` (export: test_export_formats.py's r3gan_run cases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.cli import main


def test_generate_draws_an_r3gan_run(r3gan_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    assert main(["generate", str(r3gan_run), "--out", str(out), "--num", "6", "--class", "2"]) == 0
    grid = np.asarray(Image.open(out))
    assert grid.ndim == 3 and grid.std() > 0
