"""Decoding image files (a folder or a .zip) into one uint8 array, and caching that array.

Shared by ``folder:PATH`` and ``celeba``. Every image is center-cropped to a square and resized with
Pillow's antialiased LANCZOS filter; decoding runs in a thread pool because Pillow releases the GIL.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps

from ganforge.data.download import atomic_path
from ganforge.errors import GanforgeError
from ganforge.progress import progress_bar

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
DECODE_CHUNK = 512  # images read per batch: bounds the memory of raw file bytes held at once
CACHE_FORMAT = 1


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


def decode_square(raw: bytes, resolution: int) -> np.ndarray | None:
    """Bytes of one image file -> uint8 ``(R, R)`` (gray) or ``(R, R, 3)``; None when unreadable."""
    try:
        with Image.open(io.BytesIO(raw)) as img:
            # JPEG only: let the decoder downscale by 1/2..1/8 while staying >= the target size
            img.draft(img.mode, (resolution, resolution))
            upright = ImageOps.exif_transpose(img)  # phone photos store their rotation in EXIF
            square = ImageOps.fit(to_gray_or_rgb(upright), (resolution, resolution),
                                  method=Image.Resampling.LANCZOS)
            return np.asarray(square, dtype=np.uint8)
    except Exception:  # any decoder failure (OSError, SyntaxError, struct.error...) = unreadable
        return None


# --- a folder or a zip of images -----------------------------------------------------------------


@dataclass
class ImageSource:
    """Image files found under ``location``: sorted POSIX-style relative names and how to read them."""

    location: Path
    names: list[str]
    read: Callable[[str], bytes]
    fingerprint: str  # changes when the files change, so cached decodings are never stale


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
        yield ImageSource(path, names, lambda name: (path / name).read_bytes(), _folder_fingerprint(path, names))
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
    with archive:
        names = sorted(info.filename for info in archive.infolist()
                       if not info.is_dir() and is_image_name(info.filename))
        yield ImageSource(path, names, archive.read, file_fingerprint(path))


def strip_wrapper_folders(names: Sequence[str]) -> list[str]:
    """Drop top-level folders that hold everything (``pics.zip`` -> ``pics/...``): they are no classes."""
    parts = [PurePosixPath(name).parts for name in names]
    depth = 0
    while parts and all(len(p) > depth + 1 for p in parts) and len({p[depth] for p in parts}) == 1:
        depth += 1
    return ["/".join(p[depth:]) for p in parts]


# --- many images ---------------------------------------------------------------------------------


def _safe_read(read: Callable[[str], bytes], name: str) -> bytes | None:
    try:
        return read(name)
    except Exception:  # an unreadable member (bad CRC, encrypted, vanished file) = skipped
        return None


def decode_images(source: ImageSource, resolution: int) -> tuple[np.ndarray, list[str]]:
    """Decode every image of ``source`` into uint8 ``(N, C, R, R)`` and the names that decoded.

    C is 1 only when every readable image is gray; otherwise gray images are replicated to RGB.
    """
    names = source.names
    out = np.empty((len(names), 3, resolution, resolution), dtype=np.uint8)
    kept: list[str] = []
    all_gray = True
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            progress_bar(total=len(names), desc="decoding images", unit="img", leave=False) as bar:
        for start in range(0, len(names), DECODE_CHUNK):
            chunk = names[start:start + DECODE_CHUNK]
            raws = [_safe_read(source.read, name) for name in chunk]
            decoded = pool.map(lambda raw: None if raw is None else decode_square(raw, resolution), raws)
            for name, array in zip(chunk, decoded, strict=True):
                if array is None:
                    continue
                if array.ndim == 2:
                    out[len(kept)] = array  # broadcast to the 3 channels, in case a colour image shows up
                else:
                    all_gray = False
                    out[len(kept)] = array.transpose(2, 0, 1)
                kept.append(name)
            bar.update(len(chunk))
    images = out[:len(kept), :1].copy() if all_gray else out[:len(kept)]
    return images, kept


def warn_skipped(count: int, where: object) -> None:
    if count:
        print(f"ganforge: warning: skipped {count} unreadable image{'s' if count != 1 else ''} in {where}",
              file=sys.stderr)


# --- decoded-array cache -------------------------------------------------------------------------


@dataclass
class Decoded:
    images: np.ndarray
    names: list[str]  # the images that decoded, in order
    skipped: int


def decoded_dir(cache_dir: Path) -> Path:
    return cache_dir / "decoded"


def load_decoded(cache_dir: Path, key: str, fingerprint: str | None) -> Decoded | None:
    """The cached decoding ``key``; None when absent, unreadable or made from other files.

    ``fingerprint`` None accepts any cached copy (the source files were deleted after decoding).
    """
    meta_path = decoded_dir(cache_dir) / f"{key}.json"
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != CACHE_FORMAT or (fingerprint is not None and meta["fingerprint"] != fingerprint):
            return None
        images = np.load(decoded_dir(cache_dir) / meta["array"], allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(meta["names"]):
        return None
    return Decoded(images, list(meta["names"]), int(meta["skipped"]))


def save_decoded(cache_dir: Path, key: str, fingerprint: str, decoded: Decoded) -> None:
    """Cache a decoding; only a speed-up, so a full disk or read-only cache is a warning, not an error."""
    try:
        _write_decoded(cache_dir, key, fingerprint, decoded)
    except OSError as exc:
        print(f"ganforge: warning: could not cache the decoded images in {decoded_dir(cache_dir)} ({exc}); "
              "they will be decoded again next time", file=sys.stderr)


def _write_decoded(cache_dir: Path, key: str, fingerprint: str, decoded: Decoded) -> None:
    """Write the array, then the metadata that names it, each atomically.

    The array's file name carries a digest of the fingerprint, so a crash between the two writes can
    never pair metadata with an array decoded from other files.
    """
    folder = decoded_dir(cache_dir)
    meta_path = folder / f"{key}.json"
    array_name = f"{key}.{hashlib.sha1(fingerprint.encode(), usedforsecurity=False).hexdigest()[:12]}.npy"
    try:
        previous = json.loads(meta_path.read_text()).get("array")
    except (OSError, ValueError, AttributeError):
        previous = None
    with atomic_path(folder / array_name) as tmp, open(tmp, "wb") as handle:
        np.save(handle, decoded.images, allow_pickle=False)
    meta = {"format": CACHE_FORMAT, "fingerprint": fingerprint, "array": array_name,
            "names": decoded.names, "skipped": decoded.skipped}
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps(meta))
    if previous and previous != array_name and "/" not in previous:
        (folder / previous).unlink(missing_ok=True)


def cache_key(*parts: object) -> str:
    """A file-name-safe key: readable prefix + digest of the parts (paths may hold any character)."""
    digest = hashlib.sha1("\0".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()[:16]
    return f"{parts[0]}-{digest}"
