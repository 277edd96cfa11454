"""FD_digits: a cheap Fréchet distance for monitoring digit GANs on a CPU. It is NOT FID.

Features are the 128-d penultimate layer of a small LeNet-style CNN that ganforge trains on digits5k the
first time it is needed (3 epochs, about 20-45 s of CPU time; ~95 % training accuracy) and caches as
``<cache>/metrics/digits-classifier-v1.safetensors``.
Images are reduced to luma, resized to 32x32 (antialiased bilinear; 32x32 inputs are untouched) and
scaled to [-1, 1]. Extraction runs at hundreds of images per second on 2 CPU cores (see BENCHMARKS.md),
so it suits frequent evaluations on a CPU, where Inception manages a few images per second.

Values depend on the classifier: the protocol carries its sha256, and numbers from different classifier
files (e.g. trained on two machines) are not comparable. Never report FD_digits as FID; it means
something only for digit-like data.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write
from ganforge.metrics.extractor import (
    Extractor,
    ExtractorSettings,
    ExtractorSpec,
    built_once,
    extract_features,
)
from ganforge.metrics.preprocess import QUANTIZATION, check_images
from ganforge.metrics.sources import Batch, as_source
from ganforge.metrics.weights import sha256_of, weights_dir

if TYPE_CHECKING:
    from ganforge.metrics.extractor import FeatureSet

CLASSIFIER_VERSION = 1
FEATURE_DIM = 128
SIZE = 32
EXTRACTOR_NAME = f"ganforge digits5k CNN v{CLASSIFIER_VERSION}, {FEATURE_DIM}-d (FD_digits, not FID)"
RESIZE_RULE = "luma (0.299 R + 0.587 G + 0.114 B), antialiased bilinear to 32x32 (32x32 untouched)"


class DigitNet(nn.Module):
    """LeNet-style: conv 5x5/2 (16) -> conv 5x5/2 (32) -> fc 128 (the features) -> fc 10. ~1 M MACs/image."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(16, 32, 5, stride=2, padding=2), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * 8 * 8, FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def digit_input(images: Batch) -> torch.Tensor:
    """uint8 images (a tensor or a list of mixed sizes) -> float (N, 1, 32, 32) in [-1, 1]."""
    if isinstance(images, list):
        return torch.cat([digit_input(im.unsqueeze(0)) for im in images])
    check_images(images)
    x = images.float()
    if x.shape[1] == 3:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    if x.shape[-2:] != (SIZE, SIZE):
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)
    return x / 127.5 - 1.0


@lru_cache(maxsize=1)
def digits5k_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """digits5k as classifier inputs (5000, 1, 32, 32) in [-1, 1], and its digit labels."""
    dataset = load_dataset("digits5k")  # decoding it takes seconds: once per process
    return digit_input(dataset.data), dataset.labels


@dataclass(frozen=True)
class Jitter:
    """Random affine augmentation: rotation up to ``degrees``, scale by up to ``scale``, shift up to
    ``shift`` pixels, each drawn uniformly per image."""

    degrees: float = 12.0
    scale: float = 0.12
    shift: float = 2.0


def jittered(images: torch.Tensor, jitter: Jitter, rng: torch.Generator) -> torch.Tensor:
    """``images`` (N, 1, H, W) in [-1, 1] under a random affine map each; background (-1) fills in."""
    n, size = len(images), images.shape[-1]
    angle = (torch.rand(n, generator=rng) * 2 - 1) * math.radians(jitter.degrees)
    scale = 1 + (torch.rand(n, generator=rng) * 2 - 1) * jitter.scale
    shift = (torch.rand(n, 2, generator=rng) * 2 - 1) * (2 * jitter.shift / size)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = torch.cos(angle) / scale
    theta[:, 0, 1] = -torch.sin(angle) / scale
    theta[:, 1, 0] = torch.sin(angle) / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images + 1, grid, align_corners=False, padding_mode="zeros") - 1


def fit_digit_net(x: torch.Tensor, y: torch.Tensor, *, seed: int = 0, epochs: int = 3, batch_size: int = 64,
                  lr: float = 1e-3, jitter: Jitter | None = None, one_cycle: bool = False) -> DigitNet:
    """Train :class:`DigitNet` on ``x`` (N, 1, 32, 32) in [-1, 1] and labels ``y``; returned in eval mode.

    ``jitter``: random affine augmentation of every batch (from a generator of its own); ``one_cycle``:
    the learning rate rises to ``lr`` and anneals (OneCycleLR) instead of staying. The caller's RNG state
    is left alone.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = DigitNet()
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        batches = -(-len(x) // batch_size)
        schedule = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * batches)
                    if one_cycle else None)
        augment = torch.Generator().manual_seed(seed + 1)
        for _ in range(epochs):
            for idx in torch.randperm(len(x)).split(batch_size):
                optimizer.zero_grad(set_to_none=True)
                batch = x[idx] if jitter is None else jittered(x[idx], jitter, augment)
                F.cross_entropy(net(batch), y[idx]).backward()
                optimizer.step()
                if schedule is not None:
                    schedule.step()
    return net.eval().requires_grad_(False)


@torch.inference_mode()
def accuracy_of(net: DigitNet, x: torch.Tensor, y: torch.Tensor) -> float:
    """The share of ``x`` that ``net`` labels as ``y``."""
    return float((torch.cat([net(part).argmax(1) for part in x.split(1000)]) == y).float().mean())


def train_digit_classifier(seed: int = 0, epochs: int = 3, batch_size: int = 64,
                           num_images: int | None = None) -> tuple[DigitNet, float]:
    """Train :class:`DigitNet` on digits5k (or its first ``num_images``, every 10th class-sorted image
    kept so all classes appear); returns it (eval mode) and its training-set accuracy."""
    x, y = digits5k_inputs()
    if num_images is not None:
        step = max(1, len(x) // num_images)
        x, y = x[::step][:num_images], y[::step][:num_images]
    net = fit_digit_net(x, y, seed=seed, epochs=epochs, batch_size=batch_size)
    return net, accuracy_of(net, x, y)


def classifier_path(cache_dir: Path | None = None) -> Path:
    return weights_dir(cache_dir) / f"digits-classifier-v{CLASSIFIER_VERSION}.safetensors"


def load_or_train_classifier(cache_dir: Path | None = None, train: bool = True) -> tuple[DigitNet, Path]:
    """The cached classifier, trained and saved (atomically) first when absent."""
    path = classifier_path(cache_dir)
    if not path.is_file():
        if not train:
            raise GanforgeError(f"no digit classifier at '{path}'; it is trained on first use (~20-45 s of CPU)")
        print("ganforge: training the FD_digits classifier on digits5k (first use only)", file=sys.stderr)
        net, accuracy = train_digit_classifier()
        if accuracy < 0.9:  # a broken training run must not become the cached reference classifier
            raise GanforgeError(f"digit classifier reached only {accuracy:.1%} training accuracy; not cached")
        state = {k: v.contiguous() for k, v in net.state_dict().items()}
        atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata={"train_accuracy": f"{accuracy:.4f}"}))
    net = DigitNet()
    net.load_state_dict(load_file(str(path)))
    return net.eval().requires_grad_(False), path


class DigitFeatureExtractor:
    """Features of the digit classifier; the same interface as the Inception ``FeatureExtractor``."""

    has_logits = False

    def __init__(self, *, cache_dir: Path | None = None, device: str = "cpu", batch_size: int = 256) -> None:
        net, path = load_or_train_classifier(cache_dir)
        self.weights_path = path
        self.weights_sha256 = sha256_of(path)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.model = net.to(self.device)

    def protocol(self) -> dict[str, Any]:
        return {"extractor": "digits", "feature_extractor": EXTRACTOR_NAME, "weights_file": self.weights_path.name,
                "weights_sha256": self.weights_sha256, "resize": RESIZE_RULE, "quantization": QUANTIZATION,
                "normalization": "x / 127.5 - 1"}

    def require_logits(self) -> None:
        raise GanforgeError("the digit classifier provides features for FD_digits only, not Inception logits")

    @torch.inference_mode()
    def batch_features(self, images: Batch, with_logits: bool = False) -> tuple[torch.Tensor, None]:
        if with_logits:
            self.require_logits()
        return self.model.features(digit_input(images).to(self.device)).float().cpu(), None

    def extract(self, images: object, *, num_samples: int | None = None, with_logits: bool = False,
                progress: bool = True, description: str | None = None) -> FeatureSet:
        source = as_source(images, num_samples=num_samples)
        return extract_features(source, {"digits": (self, with_logits)}, progress=progress,
                                description=description)["digits"]


_DIGIT_EXTRACTORS: dict[tuple[str, str], DigitFeatureExtractor] = {}


def get_digit_extractor(cache_dir: Path | None = None, device: str = "cpu") -> DigitFeatureExtractor:
    """A :class:`DigitFeatureExtractor`, built once per (classifier file, device)."""
    return built_once(_DIGIT_EXTRACTORS, classifier_path(cache_dir), device,
                      lambda: DigitFeatureExtractor(cache_dir=cache_dir, device=device))


def _build(settings: ExtractorSettings, need_logits: bool) -> Extractor:
    return get_digit_extractor(settings.cache_dir, settings.device)


DIGITS = ExtractorSpec(
    "digits", EXTRACTOR_NAME, SIZE, RESIZE_RULE, "x / 127.5 - 1", FEATURE_DIM, "penultimate layer",
    "trained by ganforge on digits5k at first use and cached (<cache>/metrics)", _build,
    protocol_section="digits")
