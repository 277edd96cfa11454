"""``cifar10``: the 50,000 training images, read straight from ``cifar-10-python.tar.gz``.

The file (exact name) lives in ``<cache>/cifar10/``. The batches inside are Python pickles; they are
loaded with an unpickler that can only rebuild numpy arrays, so a tampered archive cannot run code.
"""

from __future__ import annotations

import codecs
import importlib
import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.data.base import IMAGE, DatasetSource, TensorDataset
from ganforge.data.download import RemoteFile, ensure_files, removing_if_corrupt

ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FILES: tuple[RemoteFile, ...] = (
    RemoteFile(ARCHIVE, "c58f30108f718f92721af3b95e74349a", ("https://www.cs.toronto.edu/~kriz/" + ARCHIVE,)),
)
TRAIN_BATCHES = tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6))
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# numpy >= 2 moved its internals to numpy._core; pickles may name either module. The two functions are
# private, so numpy's type stubs do not declare them: they are looked up on the module objects.
try:
    _multiarray = importlib.import_module("numpy._core.multiarray")
    _numeric = importlib.import_module("numpy._core.numeric")
except ImportError:  # numpy 1.x
    _multiarray = importlib.import_module("numpy.core.multiarray")
    _numeric = importlib.import_module("numpy.core.numeric")
_reconstruct = _multiarray._reconstruct
_frombuffer = _numeric._frombuffer


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Python 3 protocol-2 pickles store bytes as _codecs.encode(str, 'latin1'); allow nothing else
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"encoding {encoding!r} is not allowed in a dataset pickle")
    return text.encode("latin1", errors)


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _latin1_encode,
}


class ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset pickle") from None


def safe_unpickle(raw: bytes) -> Any:
    # latin1 is how Python 3 reads the Python 2 strings that hold the array bytes
    return ArrayUnpickler(io.BytesIO(raw), encoding="latin1").load()


def read_batch(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> uint8 (N, 3, 32, 32) images and int64 labels."""
    batch = safe_unpickle(raw)
    if not isinstance(batch, dict):
        raise ValueError(f"batch is a {type(batch).__name__}, expected a dict")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise ValueError(f"batch data of shape {data.shape} with {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise ValueError("labels outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels  # rows are the R, G, B planes one after the other


def member_bytes(archive: tarfile.TarFile, name: str) -> bytes:
    """The content of the archive's regular file ``name``, read in memory, never extracted to disk."""
    member = archive.extractfile(name)
    if member is None:
        raise ValueError(f"{name} is not a regular file")
    return member.read()


def read_cifar_archive(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with removing_if_corrupt(path, "CIFAR-10 tar.gz"), tarfile.open(path, "r:gz") as archive:
        # members are read in memory, never extracted: no path in the archive reaches the disk
        parts = [read_batch(member_bytes(archive, name)) for name in TRAIN_BATCHES]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _folder(cache_dir: Path) -> Path:
    return cache_dir / "cifar10"


def load_cifar10(arg: str | None, cache_dir: Path, download: bool, resolution: int | None) -> TensorDataset:
    (archive,) = ensure_files("cifar10", CIFAR10_FILES, _folder(cache_dir), download)
    images, labels = read_cifar_archive(archive)
    return TensorDataset(torch.from_numpy(images), torch.from_numpy(labels), num_classes=10, name="cifar10",
                         class_names=list(CIFAR10_CLASSES))


def _present(cache_dir: Path) -> bool:
    return all((_folder(cache_dir) / remote.name).is_file() for remote in CIFAR10_FILES)


def _fetch(cache_dir: Path) -> list[Path]:
    return ensure_files("cifar10", CIFAR10_FILES, _folder(cache_dir), download=True)


CIFAR10 = DatasetSource(
    name="cifar10",
    description="CIFAR-10 photos of 10 object classes, 32x32 RGB (train set)",
    load=load_cifar10,
    kind=IMAGE,
    resolution=32,
    channels=3,
    num_classes=10,
    size=50000,
    is_present=_present,
    download_files=_fetch,
)
