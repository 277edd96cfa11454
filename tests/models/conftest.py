"""Tiny model specs and a local GAN update shared by the model tests (no training loop involved)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.models import ModelSpec, build_gan

Z_DIM = 8
WIDTH = 8
NUM_CLASSES = 3
BATCH = 4


@dataclass(frozen=True)
class Case:
    family: str
    resolution: int
    channels: int
    num_classes: int
    options: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        kind = "points" if self.resolution == 0 else f"{self.resolution}px-{self.channels}ch"
        cond = "cond" if self.num_classes else "uncond"
        arch = "-pacgan" if self.options.get("arch") == "pacgan" else ""
        return f"{self.family}{arch}-{kind}-{cond}"

    def spec(self, **options) -> ModelSpec:
        return ModelSpec(self.family, Z_DIM, self.resolution, self.channels, self.num_classes, WIDTH,
                         {**self.options, **options})


def _cases() -> list[Case]:
    cases = [Case(family, resolution, channels, k)
             for family in ("mlp", "dcgan", "sagan", "sngan")
             for k in (0, NUM_CLASSES)
             for resolution in (32, 64)
             for channels in (1, 3)]
    cases += [Case("mlp", 0, 2, k) for k in (0, NUM_CLASSES)]
    cases += [Case("mlp", 0, 2, k, {"arch": "pacgan"}) for k in (0, NUM_CLASSES)]
    return cases


CASES = _cases()
IMAGE_FAMILIES = ("mlp", "dcgan", "sagan", "sngan")


@pytest.fixture(autouse=True)
def one_thread():
    """These tensors are tiny: on a shared 2-core machine intra-op threads only add contention."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request) -> Case:
    return request.param


@pytest.fixture(params=IMAGE_FAMILIES)
def family(request) -> str:
    return request.param


def sample_shape(spec: ModelSpec) -> tuple[int, ...]:
    return (spec.channels,) if spec.resolution == 0 else (spec.channels, spec.resolution, spec.resolution)


def fake_batch(spec: ModelSpec, n: int = BATCH) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Real-looking data in [-1, 1] (points: N(0, 1)) and labels when the spec is conditional."""
    shape = sample_shape(spec)
    data = torch.randn(n, *shape) if spec.resolution == 0 else torch.rand(n, *shape) * 2 - 1
    labels = torch.randint(0, spec.num_classes, (n,)) if spec.num_classes else None
    return data, labels


def _nonzero_grads(module: nn.Module) -> set[str]:
    touched = set()
    for name, p in module.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name}"
            if p.grad.abs().sum() > 0:
                touched.add(name)
    return touched


@dataclass
class UpdateResult:
    losses: list[float]
    g_touched: set[str]
    d_touched: set[str]


def bce_update(G: nn.Module, D: nn.Module, spec: ModelSpec, steps: int = 3, n: int = BATCH) -> UpdateResult:
    """A few non-saturating BCE GAN updates with Adam; records which parameters ever got gradient."""
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    result = UpdateResult([], set(), set())
    for _ in range(steps):
        real, labels = fake_batch(spec, n)
        fake = G(torch.randn(n, spec.z_dim), labels)
        loss_d = F.softplus(-D(real, labels)).mean() + F.softplus(D(fake.detach(), labels)).mean()
        opt_d.zero_grad()
        loss_d.backward()
        result.d_touched |= _nonzero_grads(D)
        opt_d.step()
        loss_g = F.softplus(-D(fake, labels)).mean()
        opt_g.zero_grad()
        loss_g.backward()
        result.g_touched |= _nonzero_grads(G)
        opt_g.step()
        result.losses += [loss_d.item(), loss_g.item()]
    return result


class Packed(nn.Module):
    """What the training loop does for PacGAN: stack ``pack`` consecutive samples along channels."""

    def __init__(self, D: nn.Module, pack: int) -> None:
        super().__init__()
        self.D, self.pack = D, pack

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.pack == 1:
            return self.D(x, labels)
        return self.D(x.reshape(x.shape[0] // self.pack, x.shape[1] * self.pack, *x.shape[2:]))


def build_seeded(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    return build_gan(spec)


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (conftest is not importable as a module)."""
    return SimpleNamespace(build=build_seeded, bce_update=bce_update, fake_batch=fake_batch,
                           sample_shape=sample_shape, z_dim=Z_DIM, width=WIDTH, num_classes=NUM_CLASSES,
                           batch=BATCH, Case=Case, Packed=Packed)
