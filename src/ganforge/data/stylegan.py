"""Writing a StyleGAN dataset zip: the format StyleGAN2-ADA, StyleGAN3, EDM/EDM2 and R3GAN train from.

An uncompressed zip of PNGs at one square resolution, ``00000/img00000000.png``, ``00000/img00000001.png``
... (1000 images per folder), plus ``dataset.json`` at its root: ``{"labels": [["00000/img00000000.png",
6], ...]}``, or ``{"labels": null}`` for an unlabelled set. ganforge reads such zips as ``folder:PATH``
(:func:`ganforge.data.images.stylegan_labels`).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.data.download import atomic_path
from ganforge.data.images import STYLEGAN_LABELS
from ganforge.progress import progress_bar

IMAGES_PER_FOLDER = 1000


def stylegan_name(index: int) -> str:
    return f"{index // IMAGES_PER_FOLDER:05d}/img{index:08d}.png"


def png_bytes(image: np.ndarray) -> bytes:
    """One CHW uint8 image as an uncompressed PNG (as StyleGAN's dataset tool writes them: fast to read)."""
    pixels = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="png", compress_level=0, optimize=False)
    return buffer.getvalue()


def write_stylegan_zip(images: np.ndarray, labels: Sequence[int] | None, out: Path) -> None:
    """Write ``images`` (uint8 ``(N, C, R, R)``, memory-mapped is fine) and their labels as a StyleGAN zip,
    atomically: a failure (full disk) leaves no partial zip at ``out``."""
    names = [stylegan_name(i) for i in range(len(images))]
    entries = None if labels is None else [[name, int(label)] for name, label in zip(names, labels, strict=True)]
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive, \
            progress_bar(total=len(images), desc="writing the zip", unit="img", leave=False) as bar:
        for index, name in enumerate(names):
            archive.writestr(name, png_bytes(np.asarray(images[index])))
            bar.update(1)
        archive.writestr(STYLEGAN_LABELS, json.dumps({"labels": entries}))
