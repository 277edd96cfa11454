"""Latent sampling, truncation, slerp and class choice: the pure functions behind generate and serve."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.sampling import (
    MAX_SEED,
    check_seed,
    check_truncation,
    interpolation_steps,
    labels_for,
    latents,
    parse_classes,
    slerp,
)


def test_same_seed_same_latents_and_different_seeds_differ() -> None:
    assert torch.equal(latents(7, 32, 10), latents(7, 32, 10))
    assert not torch.allclose(latents(7, 32, 10), latents(8, 32, 10))
    # Seeds that agree in their low 32 bits must still differ (torch's generator would collide here).
    assert not torch.allclose(latents(1, 32, 1), latents(2, 32, 1))


def test_latent_i_does_not_depend_on_how_many_or_where_the_batch_starts() -> None:
    whole = latents(3, 16, 20)
    pieces = torch.cat([latents(3, 16, 7, start=0), latents(3, 16, 7, start=7), latents(3, 16, 6, start=14)])
    assert torch.equal(whole, pieces)
    assert whole.shape == (20, 16) and whole.dtype == torch.float32


def test_latents_look_standard_normal() -> None:
    z = latents(0, 64, 500)
    assert abs(float(z.mean())) < 0.02
    assert abs(float(z.std()) - 1.0) < 0.02


@pytest.mark.parametrize("threshold", [0.01, 0.5, 1.5])
def test_truncation_bounds_every_coordinate_and_keeps_the_distribution_shape(threshold: float) -> None:
    z = latents(11, 128, 64, truncation=threshold)
    assert float(z.abs().max()) <= threshold
    # A normal truncated to [-T, T] has std below T/sqrt(3) (the uniform's) for small T, and below 1.
    assert float(z.std()) < min(1.0, threshold)
    assert float(z.std()) > 0.3 * threshold
    assert torch.equal(z, latents(11, 128, 64, truncation=threshold))


def test_truncation_only_redraws_out_of_range_coordinates() -> None:
    plain, truncated = latents(5, 256, 1), latents(5, 256, 1, truncation=1.0)
    inside = plain.abs() <= 1.0
    assert torch.equal(plain[inside], truncated[inside])
    assert not torch.equal(plain[~inside], truncated[~inside])


@pytest.mark.parametrize("bad", [0.0, -1.0, 0.001, 11.0, math.inf, math.nan])
def test_truncation_out_of_range_is_an_error(bad: float) -> None:
    with pytest.raises(GanforgeError, match="truncation"):
        check_truncation(bad)
    assert check_truncation(None) is None


@pytest.mark.parametrize("bad", [-1, MAX_SEED + 1, 2**40])
def test_seed_range(bad: int) -> None:
    with pytest.raises(GanforgeError, match="seed"):
        check_seed(bad)
    assert check_seed(MAX_SEED) == MAX_SEED


def test_slerp_endpoints_and_norm() -> None:
    a, b = latents(1, 512, 4), latents(2, 512, 4)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5)
    assert torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    middle = slerp(a, b, 0.5)
    # Gaussian latents are nearly orthogonal with similar norms: slerp keeps the norm, lerp shrinks it ~1/sqrt(2).
    ratio = middle.norm(dim=1) / a.norm(dim=1)
    assert torch.all((ratio > 0.9) & (ratio < 1.1))
    lerp_ratio = (0.5 * (a + b)).norm(dim=1) / a.norm(dim=1)
    assert torch.all(lerp_ratio < 0.8)


def test_slerp_of_parallel_vectors_falls_back_to_lerp() -> None:
    a = torch.ones(2, 8)
    out = slerp(a, 2 * a, 0.5)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, 1.5 * a)


def test_interpolation_steps() -> None:
    assert torch.allclose(interpolation_steps(5), torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    with pytest.raises(GanforgeError):
        interpolation_steps(1)


def test_parse_classes_indices_names_and_errors() -> None:
    names = ["zero", "one", "two"]
    assert parse_classes("2", 3, names) == [2]
    assert parse_classes("0, two,1", 3, names) == [0, 2, 1]
    with pytest.raises(GanforgeError, match="out of range"):
        parse_classes("3", 3, names)
    with pytest.raises(GanforgeError, match="-1"):
        parse_classes("-1", 3, names)
    with pytest.raises(GanforgeError, match="unknown class 'three'.*zero, one, two"):
        parse_classes("three", 3, names)
    with pytest.raises(GanforgeError, match="unconditional"):
        parse_classes("0", 0, None)
    with pytest.raises(GanforgeError, match="empty"):
        parse_classes("1,", 3, names)


def test_labels_cycle_through_the_chosen_classes() -> None:
    assert labels_for(0, None, 5) is None
    assert labels_for(3, None, 5).tolist() == [0, 1, 2, 0, 1]
    assert labels_for(10, [4, 7], 5).tolist() == [4, 7, 4, 7, 4]
    assert labels_for(10, [4, 7], 3, start=1).tolist() == [7, 4, 7]
    assert labels_for(3, [2], 2).dtype == torch.int64
    with pytest.raises(GanforgeError):
        labels_for(0, [1], 2)
    with pytest.raises(GanforgeError):
        labels_for(3, [3], 2)
