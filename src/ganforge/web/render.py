"""Running a loaded generator (:mod:`ganforge.loader`) and turning its samples into pictures
(:mod:`ganforge.viz`): shared by generate, serve, export and the notebook."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from ganforge.errors import GanforgeError
from ganforge.loader import LoadedGenerator
from ganforge.sampling import interpolation_steps, labels_for, latents, slerp
from ganforge.viz import GridCanvas, grid_columns, render_samples, scatter_limits, scatter_picture


# -- sampling ----------------------------------------------------------------------------------------------
def generate_batches(loaded: LoadedGenerator, seed: int, num: int, *, classes: Sequence[int] | None = None,
                     truncation: float | None = None, batch_size: int = 64) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Samples ``(batch, labels)`` in order, ``batch_size`` at a time, so callers can stream to disk."""
    spec = loaded.spec
    for start in range(0, num, batch_size):
        count = min(batch_size, num - start)
        z = latents(seed, spec.z_dim, count, start=start, truncation=truncation)
        labels = labels_for(spec.num_classes, classes, count, start=start)
        yield run_generator(loaded, z, labels), labels


def run_generator(loaded: LoadedGenerator, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """G(z, labels) without autograd, returned on the CPU; one thread at a time per generator."""
    z = z.to(loaded.device)
    labels = None if labels is None else labels.to(loaded.device)
    with loaded.lock, torch.inference_mode():
        return loaded.module(z, labels).float().cpu()


def interpolation_latents(z_dim: int, seed_a: int, seed_b: int, frames: torch.Tensor, num: int,
                          truncation: float | None) -> list[torch.Tensor]:
    """For each t, ``num`` latents on the great circles from seed A's latents to seed B's."""
    a = latents(seed_a, z_dim, num, truncation=truncation)
    b = latents(seed_b, z_dim, num, truncation=truncation)
    return [slerp(a, b, float(t)) for t in frames]


# -- pictures (drawn by ganforge.viz) --------------------------------------------------------------------
def render_batch(loaded: LoadedGenerator, samples: torch.Tensor, labels: torch.Tensor | None,
                 classes: Sequence[int] | None, nrow: int | None = None,
                 limits: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """A picture of samples already in memory: an image grid or a scatter plot."""
    ncol = grid_columns(len(samples), loaded.spec.num_classes, classes, nrow)
    return render_samples(samples, nrow=ncol, reference=loaded.reference, labels=labels, limits=limits)


def sample_picture(loaded: LoadedGenerator, seed: int, num: int, *, classes: Sequence[int] | None = None,
                   truncation: float | None = None, nrow: int | None = None, batch_size: int = 64,
                   progress: Callable[[int], object] | None = None) -> np.ndarray:
    """The picture of ``num`` samples of ``seed``: a grid for images, a scatter plot for points."""
    spec = loaded.spec
    batches = generate_batches(loaded, seed, num, classes=classes, truncation=truncation, batch_size=batch_size)
    if loaded.makes_points:
        parts = list(batches)
        points = torch.cat([x for x, _ in parts])
        label_parts = [y for _, y in parts if y is not None]  # all or none: the model is conditional or not
        labels = torch.cat(label_parts) if label_parts else None
        if progress is not None:
            progress(num)
        return scatter_picture(points[:, :2], labels, loaded.reference)
    ncol = grid_columns(num, spec.num_classes, classes, nrow)
    canvas = GridCanvas(num, ncol, spec.resolution, spec.resolution)
    start = 0
    for images, _ in batches:
        canvas.paste(start, images)
        start += len(images)
        if progress is not None:
            progress(len(images))
    return canvas.array


def interpolation_pictures(loaded: LoadedGenerator, seed_a: int, seed_b: int, frames: int, num: int, *,
                           classes: Sequence[int] | None = None, truncation: float | None = None,
                           nrow: int | None = None) -> list[np.ndarray]:
    """One picture per frame of the walk from seed A to seed B (``num`` samples walked side by side)."""
    if seed_a == seed_b:
        raise GanforgeError(f"interpolating from seed {seed_a} to itself shows nothing; pick two different seeds")
    spec = loaded.spec
    steps = interpolation_steps(frames)
    labels = labels_for(spec.num_classes, classes, num)
    outputs = [run_generator(loaded, z, labels) for z in
               interpolation_latents(spec.z_dim, seed_a, seed_b, steps, num, truncation)]
    limits = scatter_limits(*outputs, loaded.reference) if loaded.makes_points else None
    return [render_batch(loaded, out, labels, classes, nrow, limits) for out in outputs]
