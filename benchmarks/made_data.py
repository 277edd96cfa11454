"""Made data for the data-feed benchmarks: a procedural image set written as a prepared folder, and a
small conv GAN family (``feedbench``) that trains at any power-of-two resolution.

The images are smooth colour fields (a few random sinusoids per image), made in NumPy chunk by chunk and
written straight into the prepared-folder format (``ganforge data prepare --out``), so 60,000 images at
128 px (2.9 GB) take seconds of CPU and never sit in memory at once.

    python benchmarks/made_data.py make DIR --count 60000 --resolution 128
    python benchmarks/made_data.py train --data folder:DIR --model feedbench ...   # ganforge train + feedbench
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganforge.cli import main as ganforge_main
from ganforge.data.cache import CACHE_FORMAT, npy_header
from ganforge.data.prepared import PREPARED
from ganforge.models import MODELS, ModelFamily, ModelSpec

CHUNK = 500
FAMILY = "feedbench"


def made_images(start: int, count: int, resolution: int, seed: int) -> np.ndarray:
    """Images ``start .. start+count`` (uint8 ``(count, 3, R, R)``): a pure function of (seed, index)."""
    rng = np.random.default_rng([seed, start])
    axis = np.linspace(0.0, 2 * math.pi, resolution, dtype=np.float32)
    freq = rng.uniform(0.5, 4.0, size=(count, 3, 2, 1, 1)).astype(np.float32)
    phase = rng.uniform(0, 2 * math.pi, size=(count, 3, 2, 1, 1)).astype(np.float32)
    waves = np.sin(freq[:, :, 0] * axis[None, None, :, None] + phase[:, :, 0])
    waves = waves + np.sin(freq[:, :, 1] * axis[None, None, None, :] + phase[:, :, 1])
    return ((waves + 2.0) * 63.75).astype(np.uint8)


def write_made_set(out: Path, count: int, resolution: int, seed: int = 0, classes: int = 10) -> Path:
    """A prepared folder of ``count`` made images (labels ``i % classes``), trainable as ``folder:out``."""
    out.mkdir(parents=True, exist_ok=True)
    array = f"{PREPARED}.made{seed}.npy"
    with open(out / array, "wb") as handle:
        handle.write(npy_header((count, 3, resolution, resolution)))
        for start in range(0, count, CHUNK):
            handle.write(made_images(start, min(CHUNK, count - start), resolution, seed).tobytes())
    names = [f"{i:08d}" for i in range(count)]
    meta = {"format": CACHE_FORMAT, "fingerprint": f"made-{seed}-{count}-{resolution}", "array": array,
            "names": names, "skipped": 0, "skipped_names": [], "resolution": resolution, "crop": "center",
            "source": "", "labels": {name: i % classes for i, name in enumerate(names)},
            "class_names": [str(c) for c in range(classes)]}
    (out / f"{PREPARED}.json").write_text(json.dumps(meta))
    return out


class _Generator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.z_dim, self.num_classes, width = spec.z_dim, spec.num_classes, spec.width
        self.fc = nn.Linear(spec.z_dim, width * 16)
        layers: list[nn.Module] = []
        for _ in range(int(math.log2(spec.resolution)) - 2):
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Conv2d(width, spec.channels, 3, padding=1), nn.Tanh())
        self.width = width

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self.fc(z).view(len(z), self.width, 4, 4))


class _Discriminator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        width = spec.width
        layers: list[nn.Module] = [nn.Conv2d(spec.channels, spec.width, 3, padding=1)]
        for _ in range(int(math.log2(spec.resolution)) - 2):
            layers += [nn.LeakyReLU(0.2), nn.Conv2d(width, width, 4, stride=2, padding=1)]
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * 16, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(x).view(-1)


def register_family() -> None:
    if FAMILY not in MODELS.names():
        MODELS.register(FAMILY, ModelFamily(
            FAMILY, "benchmark conv GAN at any power-of-two resolution",
            build=lambda spec: (_Generator(spec), _Discriminator(spec)), check=lambda spec: None,
            resolutions=(32, 64, 128, 256)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["make"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("out", type=Path)
        parser.add_argument("--count", type=int, default=60000)
        parser.add_argument("--resolution", type=int, default=128)
        made = parser.parse_args(sys.argv[2:])
        print(write_made_set(made.out, made.count, made.resolution))
    else:
        register_family()
        raise SystemExit(ganforge_main(sys.argv[1:]))
