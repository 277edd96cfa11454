"""The data feed: where the dataset lives during training and which real batch comes next.

Two modes (``--data-mode``, :func:`choose_mode`), the same batches in both:

- resident: the whole uint8 dataset sits on the training device and each batch is gathered there by
  index, then converted to [-1, 1] on the device: no DataLoader, no per-sample Python. A dataset too big
  for the GPU stays in host memory and each batch goes through pinned memory (``keep_data_on_host``).
- stream: DataLoader workers read each batch (rows of the memory-mapped decoded cache, or a Python
  Dataset's items through its ``__getitem__``, so its random transforms are drawn afresh every epoch)
  into pinned memory, and the batch is copied to the device asynchronously. Only the batches in flight
  are in memory.

Batch order is a pure function of (seed, number of batches drawn), so that count is the feed's whole
state: a resumed run continues the uninterrupted order exactly, in either mode. In stream mode the
DataLoader's sampler is that count, going up: a worker turns batch number p into its indices itself, and
the feed restarts the loader wherever a resume puts the count. In a multi-process run every rank draws
the same global batch and keeps its slice (``rank_slice``), and reads only that slice.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from ganforge.data import TensorDataset, to_model_range
from ganforge.data.crops import crop_offsets, random_crops
from ganforge.data.user import read_rows
from ganforge.errors import GanforgeError
from ganforge.training.distributed import SINGLE, DistInfo, rank_slice

PREFETCH_BATCHES = 4  # batches each stream worker reads ahead


@dataclass(frozen=True)
class FeedMode:
    """How a run is fed (``resident`` or ``stream``) and why, in words (``--dry-run`` prints it)."""

    mode: str
    reason: str


def available_memory() -> int:
    """Bytes of host memory available to a new allocation (Linux's MemAvailable; free pages elsewhere)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def gigabytes(nbytes: int) -> str:
    return f"{nbytes / 1e9:.2f} GB"


def choose_mode(requested: str, dataset: TensorDataset, available: int | None = None) -> FeedMode:
    """``--data-mode`` resolved for ``dataset``: auto streams a Python Dataset (its transforms stay
    live) and a set taking more than half the available host memory; every other set is resident."""
    live = dataset.items is not None
    if requested != "auto":
        why = " (its items are read once, so random transforms are frozen)" if live and requested == "resident" else ""
        return FeedMode(requested, f"asked for with --data-mode {requested}{why}")
    if live:
        return FeedMode("stream", "a Python Dataset: read through its __getitem__ every epoch, so random "
                                  "transforms are drawn afresh")
    nbytes = dataset.data.nbytes
    available = available_memory() if available is None else available
    if nbytes > available // 2:
        return FeedMode("stream", f"the set takes {gigabytes(nbytes)}, more than half of the "
                                  f"{gigabytes(available)} of memory available")
    return FeedMode("resident", f"the set takes {gigabytes(nbytes)}, within half of the {gigabytes(available)} "
                                "of memory available")


def keep_data_on_host(requested: bool, nbytes: int, device: torch.device, free_bytes: int | None = None) -> bool:
    """Whether the dataset stays in host memory instead of moving to the training device.

    Only a GPU run has a choice; there the data moves unless asked not to or it would take more than half
    of the free GPU memory (the networks, activations and allocator slack need the rest).
    """
    if device.type != "cuda":
        return False
    if requested:
        return True
    if free_bytes is None:
        free_bytes = torch.cuda.mem_get_info(device)[0]
    return nbytes > free_bytes // 2


def gather_rows(data: torch.Tensor, index: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``data[index]`` on ``device``; from host data via a pinned buffer and an asynchronous copy.

    The buffer comes from torch's caching pinned allocator, which does not hand its memory out again until
    the copy reading it has finished, so a fresh buffer per batch is safe and cheap.
    """
    if data.device == device or device.type != "cuda":
        return data[index].to(device)
    buffer = torch.empty((len(index), *data.shape[1:]), dtype=data.dtype, pin_memory=True)
    torch.index_select(data, 0, index, out=buffer)
    return buffer.to(device, non_blocking=True)


def epoch_permutation(size: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of ``epoch``: a pure function of (seed, epoch)."""
    return torch.randperm(size, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


class EpochSampler:
    """Batches drawn without replacement from a fresh permutation each epoch.

    The permutation of epoch e depends only on (seed, e), so the position ``batches_drawn`` is the
    whole state: resuming needs no saved generator and matches the uninterrupted order exactly.
    """

    def __init__(self, size: int, batch_size: int, seed: int, device: torch.device) -> None:
        if batch_size > size:
            raise GanforgeError(f"batch size {batch_size} is larger than the dataset ({size} samples); "
                                f"use --batch-size {size} or less")
        self.size, self.batch_size, self.seed, self.device = size, batch_size, seed, device
        self.batches_per_epoch = size // batch_size
        self.batches_drawn = 0
        self._epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def next_indices(self) -> torch.Tensor:
        epoch, position = divmod(self.batches_drawn, self.batches_per_epoch)
        if epoch != self._epoch:
            perm = epoch_permutation(self.size, self.seed, epoch)
            if self.device.type == "cuda":  # from pinned memory the copy is asynchronous: no sync per epoch
                perm = perm.pin_memory().to(self.device, non_blocking=True)
            self._perm = perm.to(self.device)
            self._epoch = epoch
        self.batches_drawn += 1
        start = position * self.batch_size
        return self._perm[start:start + self.batch_size]

    @property
    def epoch(self) -> float:
        return self.batches_drawn / self.batches_per_epoch


class BatchReads(TorchDataset[tuple[torch.Tensor, torch.Tensor]]):
    """Item p: this rank's slice of global batch p, as uint8 images (or float points) and labels.

    Read in a DataLoader worker: the indices are computed there from (seed, p), so the loader's sampler
    is just the batch count and no index crosses a process boundary.
    """

    def __init__(self, dataset: TensorDataset, batch_size: int, seed: int, dist: DistInfo) -> None:
        self.dataset, self.batch_size, self.seed, self.dist = dataset, batch_size, seed, dist
        self.batches_per_epoch = len(dataset) // batch_size
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def indices(self, position: int) -> torch.Tensor:
        epoch, offset = divmod(position, self.batches_per_epoch)
        if epoch != self._epoch:
            self._perm, self._epoch = epoch_permutation(len(self.dataset), self.seed, epoch), epoch
        start = offset * self.batch_size
        return rank_slice(self._perm[start:start + self.batch_size], self.dist)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        return read_rows(self.dataset, self.indices(position))


def _quiet_worker(worker_id: int) -> None:
    torch.set_num_threads(1)  # a worker reads and converts; the training process owns the cores' math


class DataFeed:
    """This rank's real batches: ``next_batch()`` gives its slice of the next global batch, in [-1, 1]
    on the training device (channels-last when asked), with the batch's labels."""

    def __init__(self, dataset: TensorDataset, batch_size: int, seed: int, device: torch.device, *,
                 on_host: bool = False, channels_last: bool = False, dist: DistInfo = SINGLE,
                 mode: str = "resident", workers: int = 0) -> None:
        self.device, self.dist, self.channels_last = device, dist, channels_last
        self.seed, self.crop_size = seed, dataset.crop_size  # crop_size: --crop random (data.crops)
        self.mode = choose_mode(mode, dataset)
        self.streamed = self.mode.mode == "stream"
        if self.streamed:
            self.on_host = True
            self.reads = BatchReads(dataset, batch_size, seed, dist)
            self.workers = workers
            self.sampler = EpochSampler(len(dataset), batch_size, seed, torch.device("cpu"))
            self._batches: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None
            self._position = -1
            return
        self.on_host = keep_data_on_host(on_host, dataset.data.nbytes, device)
        data_device = torch.device("cpu") if self.on_host else device
        self.data = dataset.data.to(data_device)
        self.labels = dataset.labels.to(data_device)
        self.sampler = EpochSampler(len(dataset), batch_size, seed, data_device)

    def _streamed_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch from the workers; the loader restarts where a resume moved the count."""
        position = self.sampler.batches_drawn
        if self._position != position:
            loader = DataLoader(self.reads, batch_size=None, sampler=itertools.count(position),
                                num_workers=self.workers, pin_memory=self.device.type == "cuda",
                                prefetch_factor=PREFETCH_BATCHES if self.workers else None,
                                worker_init_fn=_quiet_worker if self.workers else None,
                                # its own generator: a loader would otherwise draw its workers' base seed
                                # from torch's global one, which checkpoints hold and resumes restore
                                generator=torch.Generator().manual_seed(self.reads.seed + position))
            self._batches = iter(loader)
        assert self._batches is not None
        images, labels = next(self._batches)
        self.sampler.batches_drawn = self._position = position + 1
        return images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)

    def close(self) -> None:
        """End the stream workers (dropping the loader's iterator shuts them down); a later batch restarts them."""
        if self.streamed:
            self._batches, self._position = None, -1

    def _crop(self, images: torch.Tensor, position: int) -> torch.Tensor:
        """This rank's images of global batch ``position``, each cut to its random window."""
        offsets = crop_offsets(self.seed, position, self.sampler.batch_size, images.shape[-1] - self.crop_size)
        return random_crops(images, self.crop_size, rank_slice(offsets, self.dist))

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        position = self.sampler.batches_drawn  # the number of the global batch drawn now
        if self.streamed:
            images, labels = self._streamed_batch()
        else:
            index = rank_slice(self.sampler.next_indices(), self.dist)
            if self.on_host:
                images, labels = gather_rows(self.data, index, self.device), gather_rows(self.labels, index, self.device)
            else:
                images, labels = self.data[index], self.labels[index]
        if self.crop_size:
            images = self._crop(images, position)
        real = to_model_range(images)
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        return real, labels
