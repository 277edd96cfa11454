"""--crop random: a random window of each image per step, a pure function of (seed, batch number)."""

from __future__ import annotations

import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from run_state import assert_same_state, state
from test_data_stream import HERE, RUN, losses

from ganforge.cli import main
from ganforge.data import TensorDataset, load_dataset
from ganforge.data.crops import margin_size
from ganforge.errors import GanforgeError
from ganforge.training.distributed import DistInfo
from ganforge.training.feed import DataFeed

CPU = torch.device("cpu")


def _cropped(num: int = 6, stored: int = 12, size: int = 8) -> TensorDataset:
    data = torch.randint(0, 256, (num, 3, stored, stored), generator=torch.Generator().manual_seed(0),
                         dtype=torch.uint8)
    return TensorDataset(data, torch.arange(num), num_classes=num, name="tiny", crop_size=size)


def _by_label(feed: DataFeed) -> dict[int, torch.Tensor]:
    """One batch, as uint8 crops keyed by label (= image index here)."""
    images, labels = feed.next_batch()
    crops = ((images + 1) * 127.5).round().to(torch.uint8)
    return {int(label): crop for crop, label in zip(crops, labels, strict=True)}


def _window_of(crop: torch.Tensor, image: torch.Tensor) -> tuple[int, int] | None:
    room = image.shape[-1] - crop.shape[-1]
    for top in range(room + 1):
        for left in range(room + 1):
            if torch.equal(image[:, top:top + crop.shape[-1], left:left + crop.shape[-1]], crop):
                return top, left
    return None


def test_each_step_takes_a_fresh_random_window_of_every_image():
    dataset = _cropped()
    feed = DataFeed(dataset, 6, seed=3, device=CPU)  # batch = the whole set: every image in every step
    steps = [_by_label(feed) for _ in range(3)]
    corners = {index: [_window_of(step[index], dataset.data[index]) for step in steps] for index in range(6)}
    assert all(corner is not None for seen in corners.values() for corner in seen)  # real windows, 8x8
    assert all(crop.shape == (3, 8, 8) for step in steps for crop in step.values())
    moved = sum(len(set(seen)) > 1 for seen in corners.values())
    assert moved == 6  # every image's window moved between steps
    assert len({corner for seen in corners.values() for corner in seen}) > 6  # not one corner for all


def test_crops_are_a_pure_function_of_seed_and_batch_in_every_mode_and_rank():
    dataset = _cropped(num=12)
    resident = DataFeed(dataset, 6, seed=4, device=CPU)
    expected = [resident.next_batch()[0] for _ in range(5)]
    streamed = DataFeed(dataset, 6, seed=4, device=CPU, mode="stream", workers=2)
    assert all(torch.equal(streamed.next_batch()[0], batch) for batch in expected)
    resumed = DataFeed(dataset, 6, seed=4, device=CPU, mode="stream", workers=1)
    resumed.sampler.batches_drawn = 3  # what a checkpoint's load_state_dict does
    assert torch.equal(resumed.next_batch()[0], expected[3])
    rank1 = DataFeed(dataset, 6, seed=4, device=CPU, dist=DistInfo(rank=1, world_size=2, local_rank=1))
    assert torch.equal(rank1.next_batch()[0], expected[0][3:])
    other_seed = DataFeed(dataset, 6, seed=5, device=CPU)
    assert not torch.equal(other_seed.next_batch()[0], expected[0])


def test_a_folder_of_non_square_images_is_stored_larger_for_random_crops(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (20, 40, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    dataset = load_dataset(f"folder:{tmp_path}", cache_dir=tmp_path / "cache", resolution=16, crop="random")
    assert dataset.data.shape == (4, 3, margin_size(16), margin_size(16)) == (4, 3, 18, 18)
    assert dataset.resolution == 16 and dataset.sample_shape == (3, 16, 16)
    native = load_dataset("digits5k", crop="random")  # no --resolution: crops of the native 32 px
    assert native.resolution == 32 and native.data.shape[-1] == 36


def test_random_crops_of_points_is_one_error_line():
    with pytest.raises(GanforgeError, match="--crop random crops images"):
        load_dataset("toy2d:ring", crop="random")


def test_a_run_with_random_crops_killed_with_sigkill_resumes_bitwise(tmp_path):
    reference, run_dir = tmp_path / "reference", tmp_path / "run"
    every = ["--checkpoint-every", "4", "--steps", "8", "--crop", "random", "--data-mode", "stream",
             "--data-workers", "1"]
    assert main(["train", *RUN, *every, "--run-dir", str(reference)]) == 0
    killed = subprocess.run([sys.executable, str(HERE / "kill_at.py"), "step-copy", "KILL", "1", "train", *RUN,
                             *every, "--run-dir", str(run_dir)], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert main(["train", *RUN, *every, "--run-dir", str(run_dir), "--resume"]) == 0
    assert_same_state(state(run_dir / "checkpoints" / "last.pt"), state(reference / "checkpoints" / "last.pt"))
    assert losses(run_dir) == losses(reference)
