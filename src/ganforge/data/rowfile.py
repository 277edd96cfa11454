"""Rows of a decoded cache read with explicit file reads, for the stream workers.

Why not the memory map: a page fault on a memory-mapped file makes the kernel read around the faulting
page (``read_ahead_kb``, 8 MB on this machine's disk) into large page-cache folios and map whole folios
into the process. Each 48 KB row a worker touched mapped about 1.4 MB of its neighbours, all of it counted
in the worker's RSS (RssFile) and kept mapped: 50 steps of batch 64 left each worker at 1.9 GB of a 2.9 GB
set, and a long run maps the whole file. A ``read()`` into a fresh buffer maps nothing: the process holds
only the batch it is building, and the file's pages stay in the kernel's page cache, reclaimable and
outside every RSS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from io import FileIO
from pathlib import Path

import numpy as np
import torch

from ganforge.errors import GanforgeError


@dataclass
class RowFile:
    """``count`` uint8 rows of ``shape`` stored back to back in ``path`` from byte ``offset`` on."""

    path: Path
    offset: int
    count: int
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        self._handle: tuple[int, FileIO] | None = None  # (pid, file): a forked worker opens its own

    @classmethod
    def of(cls, array: np.ndarray) -> RowFile | None:
        """Where ``array`` lies on disk when it is a C-order uint8 memory map of a file; else None."""
        if not isinstance(array, np.memmap) or array.filename is None or array.dtype != np.uint8:
            return None
        if not array.flags.c_contiguous or array.ndim < 2:
            return None
        return cls(Path(array.filename), int(array.offset), len(array), tuple(array.shape[1:]))

    def describes(self, data: torch.Tensor) -> bool:
        """Whether ``data`` still has this file's layout (a resized or replaced tensor does not)."""
        return data.dtype == torch.uint8 and tuple(data.shape) == (self.count, *self.shape)

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape))

    def _file(self) -> FileIO:
        pid = os.getpid()
        if self._handle is None or self._handle[0] != pid:
            # a fresh descriptor per process: forked workers would otherwise share one file position
            self._handle = (pid, FileIO(self.path, "r"))
        return self._handle[1]

    def read(self, index: torch.Tensor) -> torch.Tensor:
        """The rows at ``index`` (uint8 ``(len(index), *shape)``), read in file order."""
        rows = index.tolist()
        out = np.empty((len(rows), *self.shape), dtype=np.uint8)
        handle = self._file()
        size = self.row_bytes
        for slot in sorted(range(len(rows)), key=rows.__getitem__):  # forward through the file
            handle.seek(self.offset + rows[slot] * size)
            if handle.readinto(memoryview(out[slot]).cast("B")) != size:
                raise GanforgeError(f"{self.path} ends before row {rows[slot]}: the cache is truncated; "
                                    "delete it and run again to rebuild it")
        return torch.from_numpy(out)

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_handle": None}  # a spawned worker opens the file itself
