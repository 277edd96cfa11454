"""--data-mode stream: the same batches as resident, live transforms, exact resume after kill -9."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
from pathlib import Path

import torch
from run_state import assert_same_state, state
from torch.utils.data import Dataset

import ganforge
from ganforge.cli import main
from ganforge.data import TensorDataset
from ganforge.data.user import as_item_dataset
from ganforge.training.distributed import DistInfo
from ganforge.training.feed import DataFeed, choose_mode

HERE = Path(__file__).parent
CPU = torch.device("cpu")
RUN = ["--width", "8", "--z-dim", "8", "--batch-size", "8", "--log-every", "2", "--sample-every", "1000",
       "--log", "csv", "--device", "cpu", "--threads", "1", "--no-progress", "--data", "digits5k"]


def losses(run_dir: Path) -> list[tuple[str, ...]]:
    with open(run_dir / "history.csv", newline="") as handle:
        return [(r["step"], r["epoch"], r["loss_d"], r["loss_g"]) for r in csv.DictReader(handle)]


def _images(num: int = 20) -> TensorDataset:
    data = torch.randint(0, 256, (num, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return TensorDataset(data, torch.arange(num) % 3, num_classes=3, name="tiny")


def _batches(feed: DataFeed, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [feed.next_batch() for _ in range(count)]


def test_stream_gives_the_resident_batches_bit_for_bit_over_epochs_and_ranks():
    dataset = _images()
    resident = _batches(DataFeed(dataset, 6, seed=5, device=CPU, mode="resident"), 9)  # 3 epochs of 3
    for workers in (0, 2):
        streamed = _batches(DataFeed(dataset, 6, seed=5, device=CPU, mode="stream", workers=workers), 9)
        for (a, la), (b, lb) in zip(resident, streamed, strict=True):
            assert torch.equal(a, b) and torch.equal(la, lb)
    rank1 = DistInfo(rank=1, world_size=2, local_rank=1)
    sliced = _batches(DataFeed(dataset, 6, seed=5, device=CPU, mode="stream", workers=1, dist=rank1), 4)
    for (a, _), (b, _) in zip(resident, sliced, strict=False):
        assert torch.equal(a[3:], b)  # rank 1 reads the second half of each global batch, and only that


def test_a_stream_restarts_where_a_resume_puts_the_count():
    dataset = _images()
    uninterrupted = _batches(DataFeed(dataset, 6, seed=1, device=CPU, mode="stream", workers=2), 7)
    feed = DataFeed(dataset, 6, seed=1, device=CPU, mode="stream", workers=2)
    feed.next_batch()  # the loader has read ahead past the count a checkpoint holds
    feed.sampler.batches_drawn = 4  # what load_state_dict does
    for expected in uninterrupted[4:]:
        assert torch.equal(feed.next_batch()[0], expected[0])


class NoisyDigits(Dataset):
    """Item i: label i, pixels drawn afresh on every read (a random transform); ``targets`` lists the
    labels, as torchvision's datasets do, so they are known without reading the items."""

    def __init__(self, size: int, side: int = 8) -> None:
        self.size, self.side, self.calls = size, side, 0
        self.targets = list(range(size))

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        self.calls += 1
        return torch.rand(1, self.side, self.side), index


def test_a_python_dataset_streams_through_getitem_with_live_transforms():
    noisy = NoisyDigits(8)
    dataset = as_item_dataset(noisy)
    assert noisy.calls == 1 and choose_mode("auto", dataset).mode == "stream"  # only item 0 was read up front
    feed = DataFeed(dataset, 8, seed=0, device=CPU, mode="auto", workers=0)
    epochs = []
    for _ in range(2):  # one batch = one epoch: the same 8 indices, in a new order
        images, labels = feed.next_batch()
        epochs.append(images[labels.argsort()])
    assert epochs[0].shape == (8, 1, 8, 8)
    assert not torch.equal(epochs[0], epochs[1])  # the same index gives new pixels in the next epoch
    assert noisy.calls == 1 + 16


def test_train_reads_a_dataset_every_epoch(tmp_path):
    noisy = NoisyDigits(16, side=32)
    ganforge.train(data=noisy, model="dcgan", steps=6, batch_size=8, width=8, z_dim=8, device="cpu",
                   data_workers=0, run_dir=str(tmp_path / "run"), progress=False, sample_every=1000,
                   log="csv", conditional=True)
    assert noisy.calls >= 6 * 8  # today's resident copy read each item once: 16 calls


def test_auto_streams_a_set_larger_than_half_the_free_memory():
    dataset = _images()
    nbytes = dataset.data.nbytes
    assert choose_mode("auto", dataset, available=2 * nbytes).mode == "resident"
    chosen = choose_mode("auto", dataset, available=2 * nbytes - 2)
    assert chosen.mode == "stream" and "more than half" in chosen.reason
    assert choose_mode("resident", dataset, available=0).mode == "resident"


def test_dry_run_says_which_mode_and_why(capsys):
    assert main(["train", "--dry-run", "--data-mode", "stream", *RUN]) == 0
    assert "# data mode stream: stream, asked for with --data-mode stream" in capsys.readouterr().out


def test_a_streamed_run_killed_with_sigkill_resumes_bitwise(tmp_path):
    reference, run_dir = tmp_path / "reference", tmp_path / "run"
    every = ["--checkpoint-every", "4", "--steps", "10", "--data-mode", "stream", "--data-workers", "2"]
    assert main(["train", *RUN, *every, "--run-dir", str(reference)]) == 0
    killed = subprocess.run([sys.executable, str(HERE / "kill_at.py"), "step-copy", "KILL", "1", "train", *RUN,
                             *every, "--run-dir", str(run_dir)], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert main(["train", *RUN, *every, "--run-dir", str(run_dir), "--resume"]) == 0
    assert_same_state(state(run_dir / "checkpoints" / "last.pt"), state(reference / "checkpoints" / "last.pt"))
    assert losses(run_dir) == losses(reference)
