"""``mnist`` and ``fashion-mnist``: the 60,000 training images from the original IDX gz files.

Files (exact names) live in ``<cache>/mnist/`` and ``<cache>/fashion-mnist/``:
``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``. Images are padded 28x28 -> 32x32.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from ganforge.data.base import IMAGE, DatasetSource, TensorDataset, pad_to
from ganforge.data.download import RemoteFile, ensure_files, removing_if_corrupt
from ganforge.errors import GanforgeError

IMAGES_FILE = "train-images-idx3-ubyte.gz"
LABELS_FILE = "train-labels-idx1-ubyte.gz"
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension

# md5 sums as published with the datasets (and used by torchvision)
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
MNIST_FILES: tuple[RemoteFile, ...] = tuple(
    RemoteFile(name, md5, tuple(mirror + name for mirror in MNIST_MIRRORS))
    for name, md5 in ((IMAGES_FILE, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                      (LABELS_FILE, "d53e105ee54ea40749a09fcbcd1e9432"))
)
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
FASHION_FILES: tuple[RemoteFile, ...] = tuple(
    RemoteFile(name, md5, tuple(mirror + name for mirror in FASHION_MIRRORS))
    for name, md5 in ((IMAGES_FILE, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                      (LABELS_FILE, "25c81989df183df01b3e8a0aad5dffbe"))
)

MNIST_CLASSES = [str(digit) for digit in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot"]


def parse_idx(raw: bytes, magic: int) -> np.ndarray:
    """Decode an (uncompressed) IDX file of unsigned bytes: big-endian magic, dimension sizes, data."""
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != magic:
        found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
        raise ValueError(f"IDX magic number {found!r} instead of {magic:#010x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise ValueError(f"IDX data holds {len(raw) - header} bytes, header promises shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_gz(path: Path, magic: int) -> np.ndarray:
    with removing_if_corrupt(path, "IDX gz file"):
        return parse_idx(gzip.decompress(path.read_bytes()), magic)


def _files(name: str) -> tuple[RemoteFile, ...]:
    # read at call time so tests can substitute the module-level tables
    return MNIST_FILES if name == "mnist" else FASHION_FILES


def _folder(cache_dir: Path, name: str) -> Path:
    return cache_dir / name


def load_idx_dataset(name: str, cache_dir: Path, download: bool) -> TensorDataset:
    images_path, labels_path = ensure_files(name, _files(name), _folder(cache_dir, name), download)
    images = read_idx_gz(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx_gz(labels_path, IDX_LABELS_MAGIC)
    if len(images) != len(labels) or labels.size and labels.max() > 9:
        raise GanforgeError(f"{images_path} and {labels_path} do not belong together ({len(images)} images, "
                            f"{len(labels)} labels); delete both and download again")
    data = pad_to(torch.from_numpy(images.copy()).unsqueeze(1), 32)
    classes = MNIST_CLASSES if name == "mnist" else FASHION_CLASSES
    return TensorDataset(data, torch.from_numpy(labels.astype(np.int64)), num_classes=10, name=name,
                         class_names=list(classes))


def _source(name: str, description: str) -> DatasetSource:
    def load(arg: str | None, cache_dir: Path, download: bool, resolution: int | None) -> TensorDataset:
        return load_idx_dataset(name, cache_dir, download)

    def present(cache_dir: Path) -> bool:
        return all((_folder(cache_dir, name) / remote.name).is_file() for remote in _files(name))

    def fetch(cache_dir: Path) -> list[Path]:
        return ensure_files(name, _files(name), _folder(cache_dir, name), download=True)

    return DatasetSource(name=name, description=description, load=load, kind=IMAGE, resolution=32, channels=1,
                         num_classes=10, size=60000, is_present=present, download_files=fetch)


MNIST = _source("mnist", "MNIST handwritten digits, 28x28 padded to 32x32 (train set)")
FASHION_MNIST = _source("fashion-mnist", "Fashion-MNIST clothing, 28x28 padded to 32x32 (train set)")
