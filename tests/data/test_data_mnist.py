"""mnist / fashion-mnist: IDX gz parsing, padding, download into the cache, errors."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
import torch

from ganforge.data import load_dataset, mnist
from ganforge.errors import GanforgeError


@pytest.fixture
def local_mnist(mirror, remote_for, idx_files, monkeypatch):
    """MNIST and Fashion-MNIST tables pointing at small IDX files in the local mirror."""
    images, labels = idx_files(mirror)
    table = tuple(remote_for(mirror / name) for name in (mnist.IMAGES_FILE, mnist.LABELS_FILE))
    monkeypatch.setattr(mnist, "MNIST_FILES", table)
    monkeypatch.setattr(mnist, "FASHION_FILES", table)
    return images, labels


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_files_are_downloaded_decoded_and_padded(name, local_mnist, cache):
    images, labels = local_mnist
    dataset = load_dataset(name, cache_dir=cache)
    assert (cache / name / "train-images-idx3-ubyte.gz").is_file()
    assert dataset.data.shape == (12, 1, 32, 32) and dataset.data.dtype == torch.uint8
    assert torch.equal(dataset.data[:, 0, 2:30, 2:30], torch.from_numpy(images))  # centred, 2px border
    assert dataset.data[:, :, :2].sum() == 0 and dataset.data[:, :, :, 30:].sum() == 0
    assert dataset.labels.dtype == torch.int64
    assert dataset.labels.tolist() == labels.tolist()
    assert dataset.num_classes == 10 and len(dataset.class_names) == 10
    assert dataset.class_names[9] == ("9" if name == "mnist" else "Ankle boot")


def test_files_placed_by_hand_load_without_network(local_mnist, cache, mirror):
    (cache / "mnist").mkdir()
    for name in (mnist.IMAGES_FILE, mnist.LABELS_FILE):
        shutil.copy(mirror / name, cache / "mnist" / name)
        (mirror / name).unlink()  # the "network" is gone
    dataset = load_dataset("mnist", cache_dir=cache, download=False)
    assert len(dataset) == 12


def test_resolution_resizes_after_padding(local_mnist, cache):
    assert load_dataset("mnist", cache_dir=cache, resolution=64).data.shape == (12, 1, 64, 64)


def test_wrong_magic_number_is_reported_and_file_removed(mirror, cache, remote_for, monkeypatch):
    header = (0x0803).to_bytes(4, "big") + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    (mirror / mnist.IMAGES_FILE).write_bytes(gzip.compress(header + bytes(2 * 28 * 28)))
    # labels file carrying the *images* magic number: a swapped or wrong file
    (mirror / mnist.LABELS_FILE).write_bytes(gzip.compress(header + bytes(2 * 28 * 28)))
    table = tuple(remote_for(mirror / name) for name in (mnist.IMAGES_FILE, mnist.LABELS_FILE))
    monkeypatch.setattr(mnist, "MNIST_FILES", table)
    with pytest.raises(GanforgeError, match="magic number"):
        load_dataset("mnist", cache_dir=cache)
    assert not (cache / "mnist" / mnist.LABELS_FILE).exists()


def test_truncated_gzip_is_reported_and_removed(mirror, cache, remote_for, idx_files, monkeypatch):
    idx_files(mirror)
    whole = (mirror / mnist.IMAGES_FILE).read_bytes()
    (mirror / mnist.IMAGES_FILE).write_bytes(whole[: len(whole) // 2])
    table = tuple(remote_for(mirror / name) for name in (mnist.IMAGES_FILE, mnist.LABELS_FILE))
    monkeypatch.setattr(mnist, "MNIST_FILES", table)  # md5 of the truncated file: only decoding can tell
    with pytest.raises(GanforgeError, match="truncated or corrupt"):
        load_dataset("mnist", cache_dir=cache)
    assert not (cache / "mnist" / mnist.IMAGES_FILE).exists()


def test_idx_shape_must_match_the_data():
    header = (0x0801).to_bytes(4, "big") + (5).to_bytes(4, "big")
    with pytest.raises(ValueError, match="shape"):
        mnist.parse_idx(header + bytes(4), 0x0801)
    assert mnist.parse_idx(header + bytes(range(5)), 0x0801).tolist() == [0, 1, 2, 3, 4]


def test_real_tables_without_network_name_the_urls_and_folder(cache):
    with pytest.raises(GanforgeError) as info:
        load_dataset("mnist", cache_dir=cache, download=False)
    message = str(info.value)
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz" in message
    assert "http://yann.lecun.com/exdb/mnist/train-labels-idx1-ubyte.gz" in message
    assert str(cache / "mnist") in message
    assert not (cache / "mnist").exists()


def test_real_tables_hold_the_published_checksums():
    assert {r.name: r.md5 for r in mnist.MNIST_FILES}[mnist.IMAGES_FILE] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert {r.name: r.md5 for r in mnist.FASHION_FILES}[mnist.LABELS_FILE] == "25c81989df183df01b3e8a0aad5dffbe"
    assert all(url.startswith("http://fashion-mnist.s3-website") for r in mnist.FASHION_FILES for url in r.urls)


def test_download_failure_names_url_and_folder(cache, closed_port_url, monkeypatch):
    table = tuple(mnist.RemoteFile(r.name, r.md5, (closed_port_url(r.name),)) for r in mnist.MNIST_FILES)
    monkeypatch.setattr(mnist, "MNIST_FILES", table)
    with pytest.raises(GanforgeError) as info:
        load_dataset("mnist", cache_dir=cache)
    assert closed_port_url(mnist.IMAGES_FILE) in str(info.value)
    assert str(cache / "mnist") in str(info.value)
    assert not (cache / "mnist").exists()


def test_idx_images_keep_every_pixel_value():
    array = np.resize(np.arange(256, dtype=np.uint8), (4, 8, 8))
    header = (0x0803).to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    assert np.array_equal(mnist.parse_idx(header + array.tobytes(), 0x0803), array)
