"""Stream workers read a memory-mapped cache's rows with file reads (ganforge.data.rowfile)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from ganforge.data.base import TensorDataset
from ganforge.data.cache import npy_header
from ganforge.data.rowfile import RowFile
from ganforge.data.user import read_rows
from ganforge.errors import GanforgeError


def _cache(tmp_path, count: int = 9) -> np.ndarray:
    images = np.random.default_rng(0).integers(0, 256, (count, 3, 4, 4), dtype=np.uint8)
    path = tmp_path / "set.npy"
    path.write_bytes(npy_header(images.shape) + images.tobytes())
    return images


def test_rows_are_read_from_the_file_exactly_as_the_map_holds_them(tmp_path):
    images = _cache(tmp_path)
    mapped = np.load(tmp_path / "set.npy", mmap_mode="c")
    rows = RowFile.of(mapped)
    assert rows is not None and rows.count == 9 and rows.shape == (3, 4, 4)
    dataset = TensorDataset(torch.from_numpy(mapped), torch.arange(9), num_classes=9, name="set", rows=rows)
    index = torch.tensor([7, 0, 7, 3, 8])
    read, labels = read_rows(dataset, index)
    assert torch.equal(read, torch.from_numpy(images[[7, 0, 7, 3, 8]])) and torch.equal(labels, index)
    assert torch.equal(pickle.loads(pickle.dumps(rows)).read(index), read)  # a spawned worker reopens the file
    assert RowFile.of(images) is None  # an array in memory has no file


def test_a_replaced_tensor_is_read_from_memory_not_the_stale_file(tmp_path):
    _cache(tmp_path)
    mapped = np.load(tmp_path / "set.npy", mmap_mode="c")
    bigger = torch.zeros(9, 3, 8, 8, dtype=torch.uint8)
    dataset = TensorDataset(bigger, torch.arange(9), num_classes=0, name="set", rows=RowFile.of(mapped))
    assert torch.equal(read_rows(dataset, torch.tensor([1]))[0], bigger[:1])


def test_a_truncated_cache_is_one_error_naming_it(tmp_path):
    _cache(tmp_path)
    rows = RowFile.of(np.load(tmp_path / "set.npy", mmap_mode="r"))
    assert rows is not None
    with open(tmp_path / "set.npy", "r+b") as handle:
        handle.truncate(128 + 5 * rows.row_bytes)
    with pytest.raises(GanforgeError, match="set.npy ends before row 6"):
        rows.read(torch.tensor([1, 6]))
