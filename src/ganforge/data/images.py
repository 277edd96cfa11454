"""Image files: finding them (a folder, a .zip, a StyleGAN dataset zip) and decoding one.

Shared by ``folder:PATH``, ``hf:PATH`` and ``celeba``. Every image is cropped to a square (center crop,
or padded with ``crop="pad"``) and resized with Pillow's antialiased LANCZOS filter. Decoding many images
and caching them is :mod:`ganforge.data.cache`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageOps

from ganforge.errors import GanforgeError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
CROPS = ("center", "pad")  # how a non-square image becomes square: cut to the middle, or pad the short side
STYLEGAN_LABELS = "dataset.json"  # StyleGAN2-ADA / StyleGAN3 / EDM / R3GAN: {"labels": [[name, label], ...]}


def is_image_name(name: str) -> bool:
    """An image extension (any case), and not a hidden/AppleDouble file or macOS zip metadata."""
    parts = PurePosixPath(name).parts
    if any(part.startswith(".") or part == "__MACOSX" for part in parts):
        return False
    return name.lower().endswith(IMAGE_EXTENSIONS)


# --- one image -----------------------------------------------------------------------------------


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite over white: dropping alpha would expose whatever colour transparent pixels hold."""
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def to_gray_or_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 'L' (gray sources) or 'RGB' (everything else)."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I") or mode == "F":
        # 16-bit PNGs: scale to 8 bits (Pillow's convert('L') would clip instead)
        values = np.asarray(img, dtype=np.float64)
        if mode != "F":
            values = values / 257.0
        return Image.fromarray(np.clip(values + 0.5, 0, 255).astype(np.uint8), mode="L")
    if mode in ("LA", "La"):
        return _flatten_alpha(img).convert("L")
    if mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in img.info):
        return _flatten_alpha(img)
    return img.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV


def decode_square(raw: bytes, resolution: int, crop: str = "center") -> np.ndarray | None:
    """Bytes of one image file -> uint8 ``(R, R)`` (gray) or ``(R, R, 3)``; None when unreadable.

    ``crop`` "center" cuts a non-square image to its middle square; "pad" keeps all of it, padding the
    short side with black.
    """
    try:
        with Image.open(io.BytesIO(raw)) as img:
            # JPEG only: let the decoder downscale by 1/2..1/8 while staying >= the target size
            img.draft(img.mode, (resolution, resolution))
            upright = to_gray_or_rgb(ImageOps.exif_transpose(img))  # phone photos store their rotation in EXIF
            size = (resolution, resolution)
            if crop == "pad":
                square = ImageOps.pad(upright, size, method=Image.Resampling.LANCZOS, color=0)
            else:
                square = ImageOps.fit(upright, size, method=Image.Resampling.LANCZOS)
            return np.asarray(square, dtype=np.uint8)
    except Exception:  # any decoder failure (OSError, SyntaxError, struct.error...) = unreadable
        return None


# --- a folder or a zip of images -----------------------------------------------------------------


class Reader(Protocol):
    """Reads one image's bytes by name; picklable, so decoding worker processes can read for themselves."""

    def __call__(self, name: str) -> bytes: ...


@dataclass(frozen=True)
class FolderReader:
    root: Path

    def __call__(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


class ZipReader:
    """Members of a zip; each process opens the archive once, on its first read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._archive: zipfile.ZipFile | None = None

    def __call__(self, name: str) -> bytes:
        if self._archive is None:
            self._archive = zipfile.ZipFile(self.path)
        return self._archive.read(name)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_archive": None}

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
            self._archive = None


@dataclass
class ImageSource:
    """Image files found under ``location``: sorted POSIX-style relative names and how to read them."""

    location: Path
    names: list[str]
    read: Reader
    fingerprint: str  # changes when the files change, so cached decodings are never stale
    labels: dict[str, int] | None = None  # from a StyleGAN dataset.json; None: class folders (or none)
    class_names: list[str] | None = None  # of ``labels``, where the source names its classes


def _walk_images(root: Path) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = Path(folder).relative_to(root)
        names.extend((rel / name).as_posix() for name in files if is_image_name(name))
    return sorted(name.removeprefix("./") for name in names)


def _folder_fingerprint(root: Path, names: Sequence[str]) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    for name in names:
        st = (root / name).stat()
        digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def file_fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}-{st.st_mtime_ns}"


@contextlib.contextmanager
def open_image_source(path: Path) -> Iterator[ImageSource]:
    """List the images of a folder (recursive) or a .zip; GanforgeError when it is neither."""
    if path.is_dir():
        names = _walk_images(path)
        yield ImageSource(path, names, FolderReader(path), _folder_fingerprint(path, names))
        return
    if not path.exists():
        raise GanforgeError(f"image folder or .zip '{path}' does not exist; check the path")
    if not zipfile.is_zipfile(path):
        if path.suffix.lower() == ".zip":
            raise GanforgeError(f"'{path}' is not a valid zip file (truncated or corrupt?); re-create or re-copy it")
        raise GanforgeError(f"'{path}' is neither a folder nor a .zip file of images")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GanforgeError(f"cannot open '{path}' as a zip file ({exc}); is it complete?") from exc
    reader = ZipReader(path)
    with archive:
        names = sorted(info.filename for info in archive.infolist()
                       if not info.is_dir() and is_image_name(info.filename))
        labels = stylegan_labels(path, archive, names)
    try:
        yield ImageSource(path, names, reader, file_fingerprint(path), labels)
    finally:
        reader.close()


def stylegan_labels(path: Path, archive: zipfile.ZipFile, names: Sequence[str]) -> dict[str, int] | None:
    """The labels of a StyleGAN dataset zip (``dataset.json`` at its root), by image name; None when the
    zip has no such file or its ``labels`` is null (an unlabelled StyleGAN set)."""
    if STYLEGAN_LABELS not in archive.namelist():
        return None
    try:
        entries = json.loads(archive.read(STYLEGAN_LABELS)).get("labels")
        if entries is None:
            return None
        labels = {str(name): int(label) for name, label in entries}
    except (ValueError, TypeError, AttributeError, zipfile.BadZipFile) as exc:
        raise GanforgeError(f"{path}: {STYLEGAN_LABELS} is not StyleGAN's layout "
                            f'{{"labels": [[name, label], ...]}} ({exc})') from None
    missing = [name for name in names if name not in labels]
    if missing or any(label < 0 for label in labels.values()):
        problem = f"has no label for {missing[0]}" if missing else "has a negative label"
        raise GanforgeError(f"{path}: {STYLEGAN_LABELS} {problem}; label every image with a whole number >= 0, "
                            'or write "labels": null')
    return labels


def strip_wrapper_folders(names: Sequence[str]) -> list[str]:
    """Drop top-level folders that hold everything (``pics.zip`` -> ``pics/...``): they are no classes."""
    parts = [PurePosixPath(name).parts for name in names]
    depth = 0
    while parts and all(len(p) > depth + 1 for p in parts) and len({p[depth] for p in parts}) == 1:
        depth += 1
    return ["/".join(p[depth:]) for p in parts]
