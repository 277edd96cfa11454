"""cifar10: pickled batches read from the tar.gz with a restricted unpickler."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from ganforge.data import cifar, load_dataset
from ganforge.errors import GanforgeError


@pytest.fixture
def local_cifar(mirror, remote_for, monkeypatch):
    def use(path):
        monkeypatch.setattr(cifar, "CIFAR10_FILES", (remote_for(path),))

    return use


def test_batches_are_decoded_in_channel_plane_order(mirror, cache, cifar_tarball, local_cifar):
    data, labels = cifar_tarball(mirror / cifar.ARCHIVE, per_batch=3)
    local_cifar(mirror / cifar.ARCHIVE)
    dataset = load_dataset("cifar10", cache_dir=cache)
    assert (cache / "cifar10" / cifar.ARCHIVE).is_file()
    assert dataset.data.shape == (15, 3, 32, 32) and dataset.data.dtype == torch.uint8
    # each row holds 1024 red, then 1024 green, then 1024 blue values, row-major
    assert dataset.data[4, 1, 0, 5].item() == data[4, 1024 + 5]
    assert dataset.data[14, 2, 31, 31].item() == data[14, 3071]
    assert dataset.labels.tolist() == labels.tolist()
    assert dataset.num_classes == 10 and dataset.class_names[0] == "airplane"


def test_unpickler_refuses_arbitrary_globals(tmp_path):
    class Evil:
        def __reduce__(self):
            return os.system, ("echo pwned > " + str(tmp_path / "pwned"),)

    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        cifar.safe_unpickle(pickle.dumps({"data": Evil()}, protocol=2))
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_unpickler_rebuilds_numpy_arrays(protocol):
    array = np.arange(3072 * 2, dtype=np.uint8).reshape(2, 3072)
    batch = cifar.safe_unpickle(pickle.dumps({"data": array, "labels": [3, 4]}, protocol=protocol))
    images, labels = cifar.read_batch(pickle.dumps({"data": array, "labels": [3, 4]}, protocol=protocol))
    assert np.array_equal(batch["data"], array)
    assert images.shape == (2, 3, 32, 32) and labels.tolist() == [3, 4]


def test_poisoned_archive_is_rejected_and_removed(mirror, cache, cifar_tarball, local_cifar):
    poison = pickle.dumps({"data": os.getcwd}, protocol=2)  # names the global os.getcwd
    cifar_tarball(mirror / cifar.ARCHIVE, poison=poison)
    local_cifar(mirror / cifar.ARCHIVE)
    with pytest.raises(GanforgeError, match="refusing to load posix.getcwd|refusing to load os.getcwd"):
        load_dataset("cifar10", cache_dir=cache)
    assert not (cache / "cifar10" / cifar.ARCHIVE).exists()


def test_truncated_archive_is_reported_and_removed(mirror, cache, cifar_tarball, local_cifar):
    cifar_tarball(mirror / cifar.ARCHIVE)
    whole = (mirror / cifar.ARCHIVE).read_bytes()
    (mirror / cifar.ARCHIVE).write_bytes(whole[: len(whole) * 2 // 3])
    local_cifar(mirror / cifar.ARCHIVE)  # md5 of the truncated file: only decoding can tell
    with pytest.raises(GanforgeError, match="truncated or corrupt"):
        load_dataset("cifar10", cache_dir=cache)
    assert not (cache / "cifar10" / cifar.ARCHIVE).exists()


def test_checksum_mismatch_of_archive_is_reported(mirror, cache, cifar_tarball, remote_for, monkeypatch):
    cifar_tarball(mirror / cifar.ARCHIVE)
    monkeypatch.setattr(cifar, "CIFAR10_FILES", (remote_for(mirror / cifar.ARCHIVE, md5=cifar.CIFAR10_FILES[0].md5),))
    with pytest.raises(GanforgeError, match="checksum mismatch"):
        load_dataset("cifar10", cache_dir=cache)
    assert not (cache / "cifar10" / cifar.ARCHIVE).exists()


def test_real_table_points_at_toronto_with_published_md5(cache):
    (remote,) = cifar.CIFAR10_FILES
    assert remote.md5 == "c58f30108f718f92721af3b95e74349a"
    with pytest.raises(GanforgeError, match="cs.toronto.edu/~kriz/cifar-10-python.tar.gz") as info:
        load_dataset("cifar10", cache_dir=cache, download=False)
    assert str(cache / "cifar10") in str(info.value)


def test_archive_whose_batch_is_not_a_file_is_reported(mirror, cache, local_cifar):
    import tarfile

    with tarfile.open(mirror / cifar.ARCHIVE, "w:gz") as archive:
        folder = tarfile.TarInfo(cifar.TRAIN_BATCHES[0])
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
    local_cifar(mirror / cifar.ARCHIVE)
    with pytest.raises(GanforgeError, match="data_batch_1 is not a regular file"):
        load_dataset("cifar10", cache_dir=cache)
