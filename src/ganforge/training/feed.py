"""The data feed: where the dataset lives during training and which real batch comes next.

The whole uint8 dataset sits on the training device and each batch is gathered there by index, then
converted to [-1, 1] on the device: no DataLoader, no per-sample Python. A dataset too big for the GPU
stays in host memory and each batch goes through pinned memory (``keep_data_on_host``).

Batch order is a pure function of (seed, number of batches drawn), so that count is the feed's whole
state: a resumed run continues the uninterrupted order exactly. In a multi-process run every rank draws
the same global batch and keeps its slice (``rank_slice``).
"""

from __future__ import annotations

import torch

from ganforge.data import TensorDataset, to_model_range
from ganforge.errors import GanforgeError
from ganforge.training.distributed import SINGLE, DistInfo, rank_slice


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
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.size, generator=rng)
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


class DataFeed:
    """This rank's real batches: ``next_batch()`` gives its slice of the next global batch, in [-1, 1]
    on the training device (channels-last when asked), with the batch's labels."""

    def __init__(self, dataset: TensorDataset, batch_size: int, seed: int, device: torch.device, *,
                 on_host: bool = False, channels_last: bool = False, dist: DistInfo = SINGLE) -> None:
        self.device, self.dist, self.channels_last = device, dist, channels_last
        self.on_host = keep_data_on_host(on_host, dataset.data.nbytes, device)
        data_device = torch.device("cpu") if self.on_host else device
        self.data = dataset.data.to(data_device)
        self.labels = dataset.labels.to(data_device)
        self.sampler = EpochSampler(len(dataset), batch_size, seed, data_device)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        index = rank_slice(self.sampler.next_indices(), self.dist)
        if self.on_host:
            images, labels = gather_rows(self.data, index, self.device), gather_rows(self.labels, index, self.device)
        else:
            images, labels = self.data[index], self.labels[index]
        real = to_model_range(images)
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        return real, labels
