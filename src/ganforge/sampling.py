"""Latents and labels for a trained generator: seeded sampling, truncation, slerp, class choice.

Pure functions shared by ``ganforge generate``, ``ganforge serve`` and ``ganforge export``.

Determinism contract: image ``i`` of seed ``s`` always has the same latent, whatever ``num``, batch size
or process asks for it, because each latent comes from its own random stream keyed by ``(s, i)``.
NumPy's SeedSequence/PCG64 makes those streams: torch's CPU generator keeps only 32 bits of a seed, so
it cannot give every (seed, index) pair a stream of its own.
That is what makes ``--batch-size`` free to change, a streamed folder equal to a grid of the same
seed, and "seed 7" in the web page the same picture as ``ganforge generate --seed 7``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ganforge.errors import GanforgeError

MAX_SEED = 2**31 - 1
MIN_TRUNCATION = 0.01  # below this, resampling takes thousands of rounds and every latent is ~0 anyway
MAX_TRUNCATION = 10.0  # |z| > 10 has probability ~1e-23: a larger bound means "no truncation"
MAX_INDEX = 2**32  # latents per seed


def check_seed(seed: int, what: str = "seed") -> int:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise GanforgeError(f"{what} must be an integer in 0..{MAX_SEED}, got {seed!r}")
    return seed


def check_truncation(truncation: float | None) -> float | None:
    """None (no truncation) or a threshold in [MIN_TRUNCATION, MAX_TRUNCATION]."""
    if truncation is None:
        return None
    if not math.isfinite(truncation) or not MIN_TRUNCATION <= truncation <= MAX_TRUNCATION:
        raise GanforgeError(f"truncation must be between {MIN_TRUNCATION} and {MAX_TRUNCATION} "
                            f"(smaller = closer to the average sample), got {truncation}")
    return float(truncation)


def _latent(seed: int, index: int, z_dim: int, truncation: float | None) -> np.ndarray:
    rng = np.random.default_rng([seed, index])
    z = rng.standard_normal(z_dim, dtype=np.float32)
    if truncation is not None:
        # The truncation trick (Brock et al. 2019): redraw only the out-of-range coordinates, from the
        # same stream, so the result is a truncated normal and still a function of (seed, index).
        # Drawing 1/p candidates per missing coordinate keeps small T to one or two rounds.
        accept = math.erf(truncation / math.sqrt(2.0))
        outside = np.flatnonzero(np.abs(z) > truncation)
        while len(outside):
            draws = rng.standard_normal(int(len(outside) / accept * 1.2) + 8, dtype=np.float32)
            kept = draws[np.abs(draws) <= truncation][:len(outside)]
            z[outside[:len(kept)]] = kept
            outside = outside[len(kept):]
    return z


def latents(seed: int, z_dim: int, num: int, *, start: int = 0, truncation: float | None = None) -> torch.Tensor:
    """Latents ``start .. start+num-1`` of ``seed``: float32 ``(num, z_dim)`` on the CPU."""
    check_seed(seed)
    check_truncation(truncation)
    if num < 0 or start < 0 or start + num > MAX_INDEX:
        raise GanforgeError(f"latent indices {start}..{start + num - 1} are out of range")
    if num == 0:
        return torch.empty(0, z_dim)
    return torch.from_numpy(np.stack([_latent(seed, start + i, z_dim, truncation) for i in range(num)]))


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents ``a`` and ``b`` (rows), ``t`` in [0, 1].

    Gaussian latents live near a sphere of radius sqrt(z_dim); a straight line between two of them
    passes through low-norm latents the generator rarely saw, slerp stays on the shell (White 2016).
    Nearly parallel vectors fall back to linear interpolation, where slerp is 0/0.
    """
    t = torch.as_tensor(t, dtype=a.dtype)
    if t.dim() == 0:
        t = t.expand(a.shape[:-1])
    t = t.unsqueeze(-1)
    a_unit = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b_unit = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos = (a_unit * b_unit).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    sin = torch.sin(omega)
    linear = (1 - t) * a + t * b
    safe_sin = torch.where(sin.abs() < 1e-6, torch.ones_like(sin), sin)
    spherical = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / safe_sin
    return torch.where(sin.abs() < 1e-6, linear, spherical)


def interpolation_steps(frames: int) -> torch.Tensor:
    """``frames`` evenly spaced t in [0, 1], both ends included."""
    if frames < 2:
        raise GanforgeError(f"an interpolation needs at least 2 frames, got {frames}")
    return torch.linspace(0.0, 1.0, frames)


def parse_classes(text: str, num_classes: int, class_names: Sequence[str] | None = None) -> list[int]:
    """``"3"``, ``"1,4,7"`` or class names (from generator.json) -> class indices, validated."""
    if num_classes <= 0:
        raise GanforgeError("this generator is unconditional: it has no classes to choose from")
    names = list(class_names or [])
    chosen: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            raise GanforgeError(f"empty class in {text!r}; write e.g. --class 3 or --class 1,4,7")
        if item in names:
            chosen.append(names.index(item))
            continue
        try:
            index = int(item)
        except ValueError:
            hint = f"; class names: {', '.join(names)}" if names else ""
            raise GanforgeError(f"unknown class {item!r}: give an index in 0..{num_classes - 1}{hint}") from None
        if not 0 <= index < num_classes:
            raise GanforgeError(f"class {index} is out of range: this generator has classes 0..{num_classes - 1}")
        chosen.append(index)
    return chosen


def labels_for(num_classes: int, classes: Sequence[int] | None, num: int, *, start: int = 0) -> torch.Tensor | None:
    """Labels for samples ``start .. start+num-1``: None when unconditional, else cycling ``classes``.

    Without a choice every class is shown in turn (0, 1, ..., K-1, 0, ...), so a grid with K columns
    has one class per column.
    """
    if num_classes <= 0:
        if classes:
            raise GanforgeError("this generator is unconditional: it has no classes to choose from")
        return None
    pool = list(classes) if classes else list(range(num_classes))
    for index in pool:
        if not 0 <= index < num_classes:
            raise GanforgeError(f"class {index} is out of range: this generator has classes 0..{num_classes - 1}")
    positions = torch.arange(start, start + num) % len(pool)
    return torch.tensor(pool, dtype=torch.int64)[positions]
