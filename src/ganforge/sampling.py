"""Latents and labels for a trained generator: seeded sampling, truncation, slerp, class choice.

Pure functions shared by ``ganforge generate``, ``ganforge serve`` and ``ganforge export``, and, through
``web/static/sampler.js`` (the same algorithm in JavaScript), by the exported web page: one seed is one
picture everywhere.

Determinism contract: image ``i`` of seed ``s`` always has the same latent, whatever ``num``, batch size,
process or language asks for it, because each latent comes from its own random stream keyed by ``(s, i)``.

The portable sampler (``SAMPLER``, version 1), bit for bit the same in Python and JavaScript:

- key of a stream: ``mix64(s * 2**32 + i)``, with ``mix64`` the SplitMix64 finaliser (Steele et al. 2014);
  word ``k`` of the stream is ``mix64(key + (k + 1) * 0x9E3779B97F4A7C15 mod 2**64)``, i.e. SplitMix64
  seeded with the key: a counter-based generator, so any word is computed without the ones before it;
- a word gives the uniform ``((w >> 12) + 0.5) * 2**-52`` in (0, 1) (52 random bits, never 0 or 1);
- Box-Muller on words ``2p, 2p+1``: ``r = sqrt(-2 ln u0)``, ``theta = 2 pi u1``; normals ``2p`` and ``2p+1``
  are ``r cos theta`` and ``r sin theta`` in float64, then rounded to float32. ``ln``, ``sin`` and ``cos`` are
  fixed polynomials using only ``+ - * /`` (``_log``, ``_sincos``): IEEE 754 rounds those identically
  in every language, while libm's and the browser's own ``Math.log``/``Math.sin`` may differ in the last bit;
- the latent of dimension D is normals ``0 .. D-1``; with truncation T, each coordinate with ``|z_j| > T``,
  in order of j, takes the next normal ``k >= D`` of the same stream with ``|n_k| <= T`` (comparing the
  float32 value with T in float64).

Version 1 replaced the NumPy SeedSequence/PCG64 streams of earlier ganforge versions (torch's CPU generator
was never an option: it keeps only 32 bits of a seed); seeds now give other latents than before (see
CHANGELOG.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ganforge.errors import GanforgeError

SAMPLER = {"name": "splitmix64-boxmuller", "version": 1}
MAX_SEED = 2**31 - 1
MIN_TRUNCATION = 0.01  # below this, resampling takes thousands of rounds and every latent is ~0 anyway
MAX_TRUNCATION = 10.0  # |z| > 10 has probability ~1e-23: a larger bound means "no truncation"
MAX_INDEX = 2**32  # latents per seed

GAMMA = np.uint64(0x9E3779B97F4A7C15)
MIX_1, MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
# The float64 literals both implementations spell out (Python and JavaScript parse them to the same bits).
LN2 = 0.6931471805599453
SQRT_HALF = 0.7071067811865476
HALF_PI = 1.5707963267948966


def _series(terms: int, step: Callable[[float, int], float]) -> tuple[float, ...]:
    """Coefficients built one from the last by a single float division, as sampler.js builds them."""
    coefficients = [1.0]
    for k in range(1, terms):
        coefficients.append(step(coefficients[-1], k))
    return tuple(coefficients)


# ln(m) = 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...), |s| <= 0.1716: 12 terms reach 1e-18.
LOG_TERMS = tuple(1 / (2 * k + 1) for k in range(12))
# sin x = x (1 - x^2/3! + ...), cos x = 1 - x^2/2! + ..., x in [0, pi/2): 12 and 13 terms reach 1e-18.
SIN_TERMS = _series(12, lambda c, k: -c / (2 * k * (2 * k + 1)))
COS_TERMS = _series(13, lambda c, k: -c / ((2 * k - 1) * (2 * k)))


def _horner(x2: np.ndarray, terms: tuple[float, ...]) -> np.ndarray:
    total = np.full_like(x2, terms[-1])
    for c in terms[-2::-1]:
        total = total * x2 + c
    return total


def _mix64(z: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * MIX_1
    z = (z ^ (z >> np.uint64(27))) * MIX_2
    return z ^ (z >> np.uint64(31))


def _uniform(words: np.ndarray) -> np.ndarray:
    return ((words >> np.uint64(12)).astype(np.float64) + 0.5) * 2.0**-52


def _log(u: np.ndarray) -> np.ndarray:
    """Natural log of u in (0, 1) from + - * / only: u = m 2^e with m in [sqrt(1/2), sqrt(2))."""
    m, e = np.frexp(u)  # exact: m in [0.5, 1)
    low = m < SQRT_HALF
    m = np.where(low, m * 2.0, m)
    e = (e - low).astype(np.float64)
    f = m - 1.0
    s = f / (2.0 + f)
    return 2.0 * s * _horner(s * s, LOG_TERMS) + e * LN2


def _sincos(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sin and cos of 2 pi u, u in [0, 1): the quadrant comes exactly from 4u, the rest from polynomials."""
    quarter = u * 4.0
    quadrant = np.floor(quarter)
    x = (quarter - quadrant) * HALF_PI
    x2 = x * x
    sin, cos = x * _horner(x2, SIN_TERMS), _horner(x2, COS_TERMS)
    q = quadrant.astype(np.int64)
    sin_out = np.choose(q, [sin, cos, -sin, -cos])
    cos_out = np.choose(q, [cos, -sin, -cos, sin])
    return sin_out, cos_out


def stream_keys(seed: int, indices: np.ndarray) -> np.ndarray:
    """The uint64 key of stream (seed, index) for each index."""
    counters = np.uint64(seed) * np.uint64(2**32) + np.asarray(indices, dtype=np.uint64)
    return _mix64(np.atleast_1d(counters))


def normals(keys: np.ndarray, start: int, count: int) -> np.ndarray:
    """Normals ``start .. start+count-1`` of each stream in ``keys``: float32 ``(len(keys), count)``."""
    first_pair, last_pair = start // 2, (start + count - 1) // 2
    pairs = np.arange(first_pair, last_pair + 1, dtype=np.uint64)
    keys = np.asarray(keys, dtype=np.uint64)[:, None]
    even = _mix64(keys + (np.uint64(2) * pairs + np.uint64(1)) * GAMMA)
    odd = _mix64(keys + (np.uint64(2) * pairs + np.uint64(2)) * GAMMA)
    radius = np.sqrt(-2.0 * _log(_uniform(even)))
    sin, cos = _sincos(_uniform(odd))
    out = np.empty((len(keys), 2 * len(pairs)), np.float64)
    out[:, 0::2] = radius * cos
    out[:, 1::2] = radius * sin
    offset = start - 2 * first_pair
    return out[:, offset:offset + count].astype(np.float32)


def _truncate(key: np.ndarray, z: np.ndarray, truncation: float) -> None:
    """Redraw the coordinates of one latent outside [-T, T], in place, from the rest of its stream.

    Chunks of about (missing / acceptance) draws keep small T to one or two rounds; the result does
    not depend on the chunk size, since every draw has a fixed position in the stream.
    """
    accept = math.erf(truncation / math.sqrt(2.0))
    outside = np.flatnonzero(np.abs(z.astype(np.float64)) > truncation)
    position = len(z)
    while len(outside):
        chunk = int(len(outside) / accept * 1.2) + 8
        draws = normals(key, position, chunk)[0]
        position += chunk
        kept = draws[np.abs(draws.astype(np.float64)) <= truncation][:len(outside)]
        z[outside[:len(kept)]] = kept
        outside = outside[len(kept):]


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


def latent_array(seed: int, z_dim: int, num: int, *, start: int = 0,
                 truncation: float | None = None) -> np.ndarray:
    """Latents ``start .. start+num-1`` of ``seed`` as a float32 NumPy array ``(num, z_dim)``."""
    check_seed(seed)
    check_truncation(truncation)
    if num < 0 or start < 0 or start + num > MAX_INDEX:
        raise GanforgeError(f"latent indices {start}..{start + num - 1} are out of range")
    if num == 0:
        return np.empty((0, z_dim), np.float32)
    keys = stream_keys(seed, np.arange(start, start + num, dtype=np.uint64))
    z = normals(keys, 0, z_dim)
    if truncation is not None:
        for row in range(num):
            _truncate(keys[row:row + 1], z[row], truncation)
    return z


def latents(seed: int, z_dim: int, num: int, *, start: int = 0, truncation: float | None = None) -> torch.Tensor:
    """Latents ``start .. start+num-1`` of ``seed``: float32 ``(num, z_dim)`` on the CPU."""
    return torch.from_numpy(latent_array(seed, z_dim, num, start=start, truncation=truncation))


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
