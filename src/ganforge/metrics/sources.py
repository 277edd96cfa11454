"""Where images for a metric come from, all turned into batches of uint8 ``(C, H, W)`` images.

- a uint8 tensor ``(N, C, H, W)`` or an iterable of such batches;
- a folder (searched recursively) or a ``.zip`` of image files: decoded to RGB uint8, unreadable files
  skipped and counted, mixed sizes and modes allowed (the pipeline resizes each image to 299 anyway);
- a ``ganforge.data`` dataset spec (``digits5k``, ``folder:PATH`` ...), optionally a seeded subset;
- a generator callable ``sample_fn(n) -> (n, C, H, W)`` in [-1, 1] (quantized with ``to_uint8``) or uint8.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganforge.data import load_dataset, split_spec, to_uint8
from ganforge.errors import GanforgeError, user_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")

Batch = torch.Tensor | list[torch.Tensor]  # (N, C, H, W) uint8, or N images (C, H, W) of mixed sizes


@dataclass
class ImageSource:
    """A description, the image count when known, and a function yielding batches of at most ``n`` images.

    ``skipped`` collects the names of unreadable files while the batches are consumed.
    ``identity`` describes the content for cache keys (None: never cache, e.g. generator samples).
    """

    description: str
    count: int | None
    batches: Callable[[int], Iterator[Batch]]
    identity: dict[str, Any] | None = None
    skipped: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- tensors

def tensor_source(images: torch.Tensor, description: str = "tensor") -> ImageSource:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        raise TypeError("expected a uint8 (N, C, H, W) tensor; quantize [-1, 1] images with "
                        "ganforge.data.to_uint8 first")
    return ImageSource(f"{description} ({len(images)} images)", len(images),
                       lambda n: iter(images.split(n)))


def iterable_source(batches: Iterable[torch.Tensor], count: int | None = None,
                    description: str = "image batches") -> ImageSource:
    def generate(n: int) -> Iterator[Batch]:
        for batch in batches:
            yield from batch.split(n)

    return ImageSource(description, count, generate)


def generator_source(sample_fn: Callable[[int], torch.Tensor], num_samples: int,
                     description: str = "generator samples") -> ImageSource:
    """Images from ``sample_fn(n)``; float output is quantized with ``ganforge.data.to_uint8``."""
    if num_samples < 1:
        raise GanforgeError(f"number of generated samples must be >= 1, got {num_samples}")

    def generate(n: int) -> Iterator[Batch]:
        done = 0
        while done < num_samples:
            want = min(n, num_samples - done)
            images = sample_fn(want)
            if images.dtype != torch.uint8:
                images = to_uint8(images)
            if images.dim() != 4 or len(images) != want:
                raise ValueError(f"sample_fn({want}) returned shape {tuple(images.shape)}, "
                                 f"expected ({want}, C, H, W)")
            done += want
            yield images.cpu()

    return ImageSource(f"{description} ({num_samples})", num_samples, generate)


# -------------------------------------------------------------------------------------- image files

def decode_image(data: bytes | Path) -> torch.Tensor:
    """Decode any Pillow-readable image to RGB uint8 ``(3, H, W)``; raises on unreadable files."""
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
        image.load()
        if image.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
            # 16-bit grayscale: keep the top 8 bits instead of Pillow's clipping conversion
            array = (np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8)
            array = np.repeat(array[:, :, None], 3, axis=2)
        else:
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def _is_image_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return name.lower().endswith(IMAGE_EXTENSIONS) and not base.startswith("._") and "__MACOSX/" not in name


def _list_folder(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and _is_image_name(p.as_posix()))


HASH_CHUNK = 1 << 20


def _hash_file(path: Path, digest: Any) -> None:
    with user_path(path), open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)


def content_fingerprint(root: Path, files: Sequence[Path]) -> str:
    """sha256 over every file's relative name and bytes, streamed: any change of content, even one that
    keeps sizes and modification times (``cp -p``, ``rsync -a``), changes it. Reading the bytes costs far
    less than decoding them, let alone running Inception on them."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(root).as_posix()}\0".encode())
        _hash_file(path, digest)
        digest.update(b"\n")
    return digest.hexdigest()


def files_source(path: str | Path) -> ImageSource:
    """All images in a folder (recursively, sorted by path) or a .zip archive."""
    path = Path(path).expanduser()
    if path.is_dir():
        files = _list_folder(path)
        names = [f.relative_to(path).as_posix() for f in files]
        fingerprint = content_fingerprint(path, files)

        def read(i: int) -> bytes | Path:
            return files[i]
        kind = "folder"
    elif path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            infos = sorted((i for i in archive.infolist() if not i.is_dir() and _is_image_name(i.filename)),
                           key=lambda i: i.filename)
        names = [i.filename for i in infos]
        fingerprint = content_fingerprint(path, [path])  # the archive's bytes: members, names and all
        archive_handle: list[zipfile.ZipFile] = []

        def read(i: int) -> bytes | Path:
            if not archive_handle:
                archive_handle.append(zipfile.ZipFile(path))
            return archive_handle[0].read(infos[i])
        kind = "zip"
    elif path.exists():
        raise GanforgeError(f"'{path}' is neither a folder nor a .zip of images")
    else:
        raise GanforgeError(f"'{path}' does not exist")
    if not names:
        raise GanforgeError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in '{path}'")

    source = ImageSource(f"{kind} {path} ({len(names)} files)", len(names), lambda n: iter(()),
                         identity={"kind": kind, "path": str(path.resolve()), "files": len(names),
                                   "fingerprint": fingerprint})

    def generate(n: int) -> Iterator[Batch]:
        source.skipped.clear()  # counts belong to one pass over the files
        batch: list[torch.Tensor] = []
        for i, name in enumerate(names):
            try:
                batch.append(decode_image(read(i)))
            except Exception:  # Pillow raises many types for corrupt files; the file is skipped and counted
                source.skipped.append(name)
                continue
            if len(batch) == n:
                yield batch
                batch = []
        if batch:
            yield batch
        if source.skipped:
            warnings.warn(f"skipped {len(source.skipped)} unreadable image(s) in '{path}', e.g. "
                          f"{source.skipped[0]}", stacklevel=2)

    source.batches = generate
    return source


# ------------------------------------------------------------------------------------------ datasets

def _native_resolution(spec: str) -> int | None:
    source, _ = split_spec(spec)
    return source.resolution


def dataset_source(spec: str, *, resolution: int | None = None, split: str = "train",
                   num_samples: int | None = None, subset_seed: int = 0, cache_dir: Path | None = None,
                   download: bool = True) -> ImageSource:
    """Images of a ``ganforge.data`` dataset, resized to ``resolution`` by the dataset loader when given.

    ``num_samples`` takes a seeded random subset (sorted indices) instead of the first images, since
    datasets may be stored class by class.
    """
    _native_resolution(spec)  # validates the name first: unknown names list the valid ones
    kwargs = {}
    if "split" in inspect.signature(load_dataset).parameters:
        kwargs["split"] = split
    elif split != "train":
        raise GanforgeError(f"dataset loaders have no '{split}' split yet; use split 'train'")
    dataset = load_dataset(spec, cache_dir=cache_dir, resolution=resolution, download=download, **kwargs)
    if not dataset.is_image:
        raise GanforgeError(f"dataset '{spec}' holds {dataset.sample_shape} points, not images; "
                            "image metrics do not apply")
    data = dataset.data
    if num_samples is not None:
        if num_samples > len(data):
            raise GanforgeError(f"asked for {num_samples} reference images but '{spec}' has {len(data)}")
        generator = torch.Generator().manual_seed(subset_seed)
        data = data[torch.randperm(len(data), generator=generator)[:num_samples].sort().values]
    source = tensor_source(data, description=f"dataset {spec} [{split}]")
    source.identity = reference_identity(spec, resolution=resolution, split=split, num_samples=num_samples,
                                         subset_seed=subset_seed)
    # the loader reports only a count of the files it could not decode
    source.skipped.extend(["(skipped by the dataset loader)"] * int(getattr(dataset, "skipped", 0) or 0))
    return source


def reference_identity(spec: str, *, resolution: int | None, split: str, num_samples: int | None,
                       subset_seed: int) -> dict[str, Any]:
    """The cache identity of a dataset reference, computed without loading the dataset."""
    native = _native_resolution(spec)
    size = resolution or native
    identity: dict[str, Any] = {
        "kind": "dataset", "dataset": spec, "split": split, "resolution": int(size) if size else "native",
        "num_samples": num_samples, "subset_seed": subset_seed if num_samples is not None else None}
    if ":" in spec:
        argument = Path(spec.partition(":")[2]).expanduser()
        if argument.is_dir() or (argument.is_file() and zipfile.is_zipfile(argument)):
            files_identity = files_source(argument).identity
            assert files_identity is not None  # files_source always records one
            identity["fingerprint"] = files_identity["fingerprint"]
    return identity


# -------------------------------------------------------------------------------------------- dispatch

def as_source(obj: object, *, num_samples: int | None = None, **dataset_kwargs: Any) -> ImageSource:
    """Turn any supported input into an :class:`ImageSource` (see the module docstring)."""
    if isinstance(obj, ImageSource):
        return obj
    if isinstance(obj, torch.Tensor):
        return tensor_source(obj[:num_samples] if num_samples else obj)
    if isinstance(obj, str | Path):
        path = Path(obj).expanduser()
        if path.exists():
            return files_source(path)
        looks_like_path = isinstance(obj, Path) or ("/" in str(obj) and ":" not in str(obj))
        if looks_like_path:
            raise GanforgeError(f"'{obj}' does not exist")
        return dataset_source(str(obj), num_samples=num_samples, **dataset_kwargs)
    if callable(obj):
        if num_samples is None:
            raise GanforgeError("a generator callable needs num_samples")
        return generator_source(obj, num_samples)
    if isinstance(obj, Iterable):
        return iterable_source(obj, num_samples)
    raise TypeError(f"cannot read images from a {type(obj).__name__}")
