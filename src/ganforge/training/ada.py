"""Adaptive discriminator augmentation (Karras et al. 2020, StyleGAN2-ADA), in plain PyTorch.

Every transform is applied to each image with probability ``p``, to everything D sees (real and fake, in
D's and G's updates), and is differentiable in the image, so G learns through it. At p = 0 the images
come back unchanged, bit for bit. The transforms and their strengths are StyleGAN2-ADA's ``bgc`` pipeline
(plus its optional cutout), in its order:

- ``blit``: x-flip, rotation by a multiple of 90 degrees, integer translation (up to 1/8 of the size);
- ``geom``: isotropic scale (lognormal, std 0.2 octaves), rotation (any angle; applied before and after the
  anisotropic scale, each with probability 1 - sqrt(1 - p)), anisotropic scale (std 0.2), fractional
  translation (normal, std 1/8 of the size);
- ``color``: brightness (std 0.2), contrast (lognormal std 0.5), luma flip, hue rotation (any angle),
  saturation (lognormal std 1), as one 4x4 matrix per image in RGB (averaged over rows for grayscale);
- ``cutout``: a square of half the image side set to 0.

The blit and geom transforms are composed into one inverse matrix per image and sampled once with
``grid_sample`` (bilinear, reflection padding). StyleGAN2-ADA pads with ``reflect`` (the edge pixel not
repeated) and samples at twice the resolution between wavelet filters (custom CUDA ops); here
``grid_sample``'s own reflection (about the border: the edge pixel repeated) and bilinear sampling at the
image's own size, so scale-downs alias slightly more. On grayscale images hue and saturation change
nothing (StyleGAN2-ADA skips them there). All random numbers come from the ``generator`` given (the run's checkpointed
auxiliary stream), drawn for the whole global batch (``share``) whatever p is, so resume is exact and
N processes augment as one does.

:class:`AdaptiveP` is the heuristic: r_t = E[sign(D(real))] over ``interval`` steps; p moves by
``sign(r_t - target) * batch * interval / (kimg * 1000)``, clamped to [0, 1].
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError, did_you_mean
from ganforge.training.augment import WHOLE, Share, own_rows
from ganforge.training.distributed import SINGLE, DistInfo, all_reduce_sum

GROUPS = ("blit", "geom", "color", "cutout")
# StyleGAN2-ADA's strengths (augment.py defaults)
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD, CUTOUT_SIZE = 0.2, 0.5, 1.0, 1.0, 0.5


def parse_groups(text: str) -> tuple[str, ...]:
    """``--ada-groups`` -> the group names, each checked."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise GanforgeError(f"--ada-groups needs at least one of: {', '.join(GROUPS)}")
    for name in names:
        if name not in GROUPS:
            raise GanforgeError(f"unknown ADA group '{name}'{did_you_mean(name, GROUPS)}; choose from: "
                                f"{', '.join(GROUPS)}")
    return names


class Draws:
    """Per-image random numbers for one batch: drawn for the global batch, this process's rows kept."""

    def __init__(self, n: int, p: torch.Tensor, generator: torch.Generator | None, share: Share,
                 device: torch.device) -> None:
        self.n, self.p, self.generator, self.share, self.device = n, p, generator, share, device

    def _draw(self, sampler: Any, *extra: int) -> torch.Tensor:
        out = sampler((self.n * self.share[1], *extra), generator=self.generator, device=self.device,
                      dtype=torch.float32)
        return own_rows(out, self.share)

    def uniform(self, *extra: int) -> torch.Tensor:
        return self._draw(torch.rand, *extra)

    def normal(self, *extra: int) -> torch.Tensor:
        return self._draw(torch.randn, *extra)

    def gate(self, p: torch.Tensor | None = None) -> torch.Tensor:
        """Which images get this transform: (n,) bool, each with probability p."""
        return self.uniform() < (self.p if p is None else p)


def _matrix(rows: list[list[Any]], n: int, device: torch.device) -> torch.Tensor:
    """A batch of matrices from rows of scalars / (n,) tensors."""
    cells = [torch.as_tensor(c, dtype=torch.float32, device=device).expand(n) for row in rows for c in row]
    return torch.stack(cells, dim=1).reshape(n, len(rows), len(rows[0]))


def _translate(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], len(tx), tx.device)


def _scale(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], len(sx), sx.device)


def _rotate(theta: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    return _matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]], len(theta), theta.device)


def _where(gate: torch.Tensor, value: torch.Tensor, identity: float) -> torch.Tensor:
    return torch.where(gate, value, torch.full_like(value, identity))


def geometric_inverse(draws: Draws, groups: tuple[str, ...], height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The blit + geom transforms of each image as one inverse matrix in pixel units about the image
    centre (output pixel -> input pixel), and which images got any transform."""
    n, device = draws.n, draws.device
    inverse = torch.eye(3, device=device).expand(n, 3, 3)
    applied = torch.zeros(n, dtype=torch.bool, device=device)

    def then(gate: torch.Tensor, matrix: torch.Tensor) -> None:
        nonlocal inverse, applied
        inverse, applied = inverse @ matrix, applied | gate

    if "blit" in groups:
        flip = torch.floor(draws.uniform() * 2)
        gate = draws.gate()
        then(gate, _scale(1 - 2 * _where(gate, flip, 0), torch.ones(n, device=device)))
        quarter = torch.floor(draws.uniform() * 4)
        gate = draws.gate()
        then(gate, _rotate(-(-math.pi / 2 * _where(gate, quarter, 0))))
        shift = (draws.uniform(2) * 2 - 1) * XINT_MAX
        gate = draws.gate()
        shift = torch.where(gate[:, None], shift, torch.zeros_like(shift))
        then(gate, _translate(-torch.round(shift[:, 0] * width), -torch.round(shift[:, 1] * height)))
    if "geom" in groups:
        p_rotate = 1 - torch.sqrt((1 - draws.p).clamp(0, 1))  # two rotations: either happens with p overall
        size = torch.exp2(draws.normal() * SCALE_STD)
        gate = draws.gate()
        size = _where(gate, size, 1)
        then(gate, _scale(1 / size, 1 / size))
        for rotation in range(2):  # before and after the anisotropic scale
            theta = (draws.uniform() * 2 - 1) * math.pi * ROTATE_MAX
            gate = draws.gate(p_rotate)
            then(gate, _rotate(_where(gate, theta, 0)))
            if rotation == 0:
                aniso = torch.exp2(draws.normal() * ANISO_STD)
                gate = draws.gate()
                aniso = _where(gate, aniso, 1)
                then(gate, _scale(1 / aniso, aniso))
        shift = draws.normal(2) * XFRAC_STD
        gate = draws.gate()
        shift = torch.where(gate[:, None], shift, torch.zeros_like(shift))
        then(gate, _translate(-shift[:, 0] * width, -shift[:, 1] * height))
    return inverse, applied


def resample(x: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """Each image through its inverse matrix: bilinear ``grid_sample`` with reflection padding."""
    n, _, height, width = x.shape
    to_unit = torch.diag(torch.tensor([2.0 / width, 2.0 / height, 1.0], device=x.device))
    to_pixels = torch.diag(torch.tensor([width / 2.0, height / 2.0, 1.0], device=x.device))
    theta = (to_unit @ inverse @ to_pixels)[:, :2, :]
    grid = F.affine_grid(theta, [n, x.shape[1], height, width], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def color_matrix(draws: Draws) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's 4x4 color transform (RGB + offset) and which images got any."""
    n, device = draws.n, draws.device
    eye = torch.eye(4, device=device)
    matrix = eye.expand(n, 4, 4)
    applied = torch.zeros(n, dtype=torch.bool, device=device)
    axis = torch.tensor([1.0, 1.0, 1.0, 0.0], device=device) / math.sqrt(3)  # the luma axis
    luma = torch.outer(axis, axis)
    brightness = draws.normal() * BRIGHTNESS_STD
    gate = draws.gate()
    b = _where(gate, brightness, 0)
    step = eye.expand(n, 4, 4).clone()
    step[:, :3, 3] = b[:, None]
    matrix, applied = step @ matrix, applied | gate
    contrast = torch.exp2(draws.normal() * CONTRAST_STD)
    gate = draws.gate()
    c = _where(gate, contrast, 1)
    step = eye.expand(n, 4, 4).clone()
    step[:, :3, :3] = step[:, :3, :3] * c[:, None, None]
    matrix, applied = step @ matrix, applied | gate
    flip = torch.floor(draws.uniform() * 2)
    gate = draws.gate()
    matrix = (eye - 2 * luma * _where(gate, flip, 0)[:, None, None]) @ matrix
    applied = applied | gate
    theta = (draws.uniform() * 2 - 1) * math.pi * HUE_MAX
    gate = draws.gate()
    matrix, applied = _hue_rotation(_where(gate, theta, 0), axis) @ matrix, applied | gate
    saturation = torch.exp2(draws.normal() * SATURATION_STD)
    gate = draws.gate()
    s = _where(gate, saturation, 1)
    matrix = (luma + (eye - luma) * s[:, None, None]) @ matrix
    return matrix, applied | gate


def _hue_rotation(theta: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    """Rotation by ``theta`` about the luma axis (Rodrigues), as 4x4 matrices."""
    vx, vy, vz = (float(v) for v in axis[:3])
    cross = torch.tensor([[0.0, -vz, vy], [vz, 0.0, -vx], [-vy, vx, 0.0]], device=theta.device)
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    v = axis[:3]
    rotation = c * torch.eye(3, device=theta.device) + s * cross + (1 - c) * torch.outer(v, v)
    out = torch.eye(4, device=theta.device).repeat(len(theta), 1, 1)
    out[:, :3, :3] = rotation
    return out


def apply_color(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    n, channels, height, width = x.shape
    if channels == 3:
        flat = x.reshape(n, 3, height * width)
        return (matrix[:, :3, :3] @ flat + matrix[:, :3, 3:]).reshape(x.shape)
    if channels == 1:  # grayscale: the mean of the RGB rows, applied to the one channel
        gray = matrix[:, :3, :].mean(dim=1)
        return x * gray[:, :3].sum(dim=1).view(n, 1, 1, 1) + gray[:, 3].view(n, 1, 1, 1)
    raise ValueError(f"ADA's color transforms need 1 or 3 channels, got {channels}")


def cutout(x: torch.Tensor, draws: Draws) -> torch.Tensor:
    n, _, height, width = x.shape
    gate = draws.gate()
    center = draws.uniform(2)
    half = torch.where(gate, CUTOUT_SIZE / 2, 0.0)
    cols = (torch.arange(width, device=x.device) + 0.5) / width
    rows = (torch.arange(height, device=x.device) + 0.5) / height
    outside_x = (cols.view(1, 1, width) - center[:, 0, None, None]).abs() >= half.view(n, 1, 1)
    outside_y = (rows.view(1, height, 1) - center[:, 1, None, None]).abs() >= half.view(n, 1, 1)
    return x * (outside_x | outside_y).unsqueeze(1).to(x.dtype)


def ada_augment(x: torch.Tensor, p: torch.Tensor | float, generator: torch.Generator | None = None,
                groups: tuple[str, ...] = ("blit", "geom", "color"), *, share: Share = WHOLE) -> torch.Tensor:
    """A (N, C, H, W) batch in [-1, 1] through the ADA pipeline at probability ``p``; differentiable in x."""
    if x.dim() != 4:
        raise ValueError(f"ADA needs (N, C, H, W) images, got shape {tuple(x.shape)}")
    layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    dtype, out = x.dtype, x.float()
    p = torch.as_tensor(p, dtype=torch.float32, device=x.device)
    draws = Draws(len(x), p, generator, share, x.device)
    if "blit" in groups or "geom" in groups:
        inverse, applied = geometric_inverse(draws, groups, x.shape[2], x.shape[3])
        out = torch.where(applied.view(-1, 1, 1, 1), resample(out, inverse), out)
    if "color" in groups:
        matrix, applied = color_matrix(draws)
        out = torch.where(applied.view(-1, 1, 1, 1), apply_color(out, matrix), out)
    if "cutout" in groups:
        out = cutout(out, draws)
    return out.to(dtype).contiguous(memory_format=layout)


class AdaptiveP:
    """ADA's probability p and the heuristic that moves it; all on the device (no host sync per step).

    ``adaptive`` False: p is whatever :meth:`set` gives it (--augment-p, or its schedule).
    """

    def __init__(self, p: float, *, target: float, interval: int, kimg: float, batch_size: int,
                 device: torch.device, dist: DistInfo = SINGLE) -> None:
        self.p = torch.tensor(p, dtype=torch.float32, device=device)
        self.adaptive = target > 0
        self.target, self.interval, self.dist = target, interval, dist
        self.step_size = batch_size * interval / (kimg * 1000.0)
        self.signs = torch.zeros((), dtype=torch.float32, device=device)
        self.count = torch.zeros((), dtype=torch.float32, device=device)

    def set(self, p: float) -> None:
        self.p.fill_(p)

    def observe(self, real_scores: torch.Tensor) -> None:
        """D's raw scores of a real batch (one D step)."""
        if self.adaptive:
            scores = real_scores.detach().float()
            self.signs += torch.sign(scores).sum()
            self.count += scores.numel()

    def end_step(self, steps_done: int) -> None:
        """After each training step: every ``interval`` steps, p moves towards the target's side."""
        if not self.adaptive or steps_done % self.interval:
            return
        totals = all_reduce_sum(torch.stack([self.signs, self.count]), self.dist)
        r_t = totals[0] / totals[1].clamp(min=1.0)
        self.p.copy_((self.p + torch.sign(r_t - self.target) * self.step_size).clamp(0.0, 1.0))
        self.signs.zero_()
        self.count.zero_()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"p": self.p.cpu(), "signs": self.signs.cpu(), "count": self.count.cpu()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.p.copy_(state["p"])
        self.signs.copy_(state["signs"])
        self.count.copy_(state["count"])
