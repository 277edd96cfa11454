"""Stacked MNIST: three independently drawn digits as R, G, B; 1,000 modes; labels that name the triple."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency

from ganforge.data import DATASETS, dataset_kind, load_dataset, mnist, stack_digits, triple_labels
from ganforge.data.stacked import STACKED_SIZE
from ganforge.errors import GanforgeError


@pytest.fixture(scope="module")
def stacked():
    return load_dataset("stacked:digits5k")


def digits_of(labels: torch.Tensor) -> torch.Tensor:
    """(N,) mode labels -> (N, 3) digits."""
    return torch.stack([labels // 100, labels // 10 % 10, labels % 10], dim=1)


def independence_p_value(a: torch.Tensor, b: torch.Tensor) -> float:
    """Chi-square test of independence of two digit columns (10 x 10 contingency table)."""
    table = np.zeros((10, 10), dtype=np.int64)
    np.add.at(table, (a.numpy(), b.numpy()), 1)
    return float(chi2_contingency(table)[1])


def test_shape_kind_and_registry_facts(stacked) -> None:
    assert stacked.data.shape == (STACKED_SIZE, 3, 32, 32) and stacked.data.dtype == torch.uint8
    assert stacked.kind == "image" and dataset_kind("stacked:digits5k") == "image"
    assert stacked.num_classes == 1000 and stacked.class_names[42] == "042" and stacked.name == "stacked:digits5k"
    source = DATASETS.get("stacked")
    assert (source.channels, source.num_classes, source.size, source.resolution) == (3, 1000, STACKED_SIZE, 32)
    assert source.choices == ("digits5k", "mnist")


def test_every_one_of_the_1000_modes_is_drawn_about_equally(stacked) -> None:
    counts = torch.bincount(stacked.labels, minlength=1000)
    assert len(counts) == 1000 and int((counts > 0).sum()) == 1000
    assert int(counts.min()) > 60 and int(counts.max()) < 200  # expected 128 each


def test_channels_are_independent_digits(stacked) -> None:
    digits = digits_of(stacked.labels)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        assert independence_p_value(digits[:, i], digits[:, j]) > 1e-3, (i, j)
    # the test detects dependence: a set whose second channel repeats the first most of the time
    dependent = digits[:, 1].clone()
    dependent[: len(dependent) // 50] = digits[: len(dependent) // 50, 0]
    assert independence_p_value(digits[:, 0], dependent) < 1e-6


def test_each_channel_is_a_base_image_of_the_labelled_digit(stacked) -> None:
    base = load_dataset("digits5k")
    digit_of_image = {bytes(image.numpy()): int(label) for image, label in zip(base.data[:, 0], base.labels,
                                                                              strict=True)}
    digits = digits_of(stacked.labels)
    for sample, triple in zip(stacked.data[:300], digits[:300], strict=True):
        assert [digit_of_image[bytes(channel.numpy())] for channel in sample] == triple.tolist()


def test_the_draw_is_fixed_and_seeded() -> None:
    images = torch.arange(5 * 4, dtype=torch.uint8).view(5, 1, 2, 2)
    labels = torch.tensor([0, 1, 2, 3, 4])
    a, la = stack_digits(images, labels, num=50, seed=3)
    b, lb = stack_digits(images, labels, num=50, seed=3)
    c, _ = stack_digits(images, labels, num=50, seed=4)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    assert triple_labels(torch.tensor([[1, 2, 3], [0, 0, 7]])).tolist() == [123, 7]
    with pytest.raises(ValueError, match="one-channel"):
        stack_digits(images.expand(-1, 3, -1, -1), labels)


def test_stacked_mnist_from_the_mnist_files(cache, mirror, remote_for, idx_files, monkeypatch) -> None:
    images, labels = idx_files(mirror, n=12)  # small files in MNIST's format, served from a local mirror
    monkeypatch.setattr(mnist, "MNIST_FILES", tuple(remote_for(mirror / name)
                                                    for name in (mnist.IMAGES_FILE, mnist.LABELS_FILE)))
    dataset = load_dataset("stacked:mnist", cache_dir=cache)
    assert dataset.data.shape == (STACKED_SIZE, 3, 32, 32) and dataset.name == "stacked:mnist"
    first = dataset.data[0]
    digits = digits_of(dataset.labels[:1])[0]
    for channel, digit in zip(first, digits.tolist(), strict=True):
        matches = [i for i in range(12) if torch.equal(channel[2:30, 2:30], torch.from_numpy(images[i]))]
        assert matches and all(int(labels[i]) == digit for i in matches)


def test_unknown_base_is_a_one_line_error() -> None:
    with pytest.raises(GanforgeError, match="unknown stacked variant 'cifar10'.*stacked:digits5k, stacked:mnist"):
        load_dataset("stacked:cifar10")
