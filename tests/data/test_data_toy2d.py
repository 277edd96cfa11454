"""toy2d:ring / toy2d:grid follow the PacGAN protocol exactly."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.data import load_dataset, toy2d_modes
from ganforge.errors import GanforgeError


def test_ring_centers_are_eight_distinct_points_on_the_unit_circle():
    centers, std = toy2d_modes("ring")
    assert centers.shape == (8, 2) and centers.dtype == torch.float32 and std == 0.01
    for k, (x, y) in enumerate(centers.tolist()):
        assert x == pytest.approx(math.cos(2 * math.pi * k / 8), abs=1e-6)
        assert y == pytest.approx(math.sin(2 * math.pi * k / 8), abs=1e-6)
    # linspace(0, 2π, 8) would put two modes on top of each other
    assert torch.cdist(centers, centers).add(torch.eye(8) * 10).min() > 0.7


def test_grid_centers_cover_the_5x5_lattice():
    centers, std = toy2d_modes("grid")
    assert std == 0.05
    assert {(x, y) for x, y in centers.tolist()} == {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert centers[5 * 1 + 3].tolist() == [-2.0, 2.0]


@pytest.mark.parametrize(("name", "modes"), [("ring", 8), ("grid", 25)])
def test_samples_match_the_mixture(name, modes):
    dataset = load_dataset(f"toy2d:{name}")
    centers, std = toy2d_modes(name)
    points, labels = dataset.data, dataset.labels
    assert points.shape == (100_000, 2) and points.dtype == torch.float32
    assert labels.dtype == torch.int64 and dataset.num_classes == modes and len(dataset.class_names) == modes
    assert not dataset.is_image
    counts = labels.bincount(minlength=modes).double() / len(labels)
    assert (counts - 1 / modes).abs().max() < 0.01  # uniform weights
    # every point lies near the center of its own label, and that center is its nearest one
    assert torch.equal(torch.cdist(points, centers).argmin(dim=1), labels)
    for k in range(modes):
        own = points[labels == k]
        assert (own.mean(0) - centers[k]).abs().max() < 5 * std / math.sqrt(len(own)) + 1e-4
        assert own.std(0).sub(std).abs().max() < 0.05 * std


def test_points_are_the_same_every_time():
    assert torch.equal(load_dataset("toy2d:ring").data, load_dataset("toy2d:ring").data)


def test_resolution_is_ignored_for_points():
    assert load_dataset("toy2d:grid", resolution=64).data.shape == (100_000, 2)


@pytest.mark.parametrize("spec", ["toy2d", "toy2d:", "toy2d:spiral"])
def test_bad_toy2d_specs(spec):
    with pytest.raises(GanforgeError, match="toy2d:ring"):
        load_dataset(spec)


def test_unknown_mode_set_in_modes_api():
    with pytest.raises(GanforgeError, match="ring, toy2d:grid"):
        toy2d_modes("spiral")
