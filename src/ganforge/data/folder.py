"""``folder:PATH``: your own images, from a folder (searched recursively) or a .zip.

Images (.png .jpg .jpeg .webp .bmp, any case) are center-cropped to a square and resized to the
requested resolution (64 by default). Labels come from class subfolders, ``PATH/cat/1.jpg`` and
``PATH/dog/2.jpg`` -> classes ``cat``, ``dog`` (sorted); when any image sits directly in the root the
set is unlabelled. A single folder holding everything (typical of zips) is looked through, not a class.
A StyleGAN dataset zip's ``dataset.json`` labels win over folders. Unreadable files are skipped and named.
Folders of 2,000+ images are decoded once into a memory-mapped cache; ``PATH`` may also be a folder
written by ``ganforge data prepare --out``.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ganforge.data.base import IMAGE, DatasetSource, TensorDataset
from ganforge.data.cache import (
    Decoded,
    build_decoded,
    cache_key,
    cached_or_built,
    decode_images,
    decoded_dir,
    load_decoded,
    skipped_listing,
    warn_skipped,
)
from ganforge.data.images import IMAGE_EXTENSIONS, ImageSource, open_image_source, strip_wrapper_folders
from ganforge.errors import GanforgeError

DEFAULT_RESOLUTION = 64
CACHE_MIN_IMAGES = 2000  # below this, decoding is quicker than managing a cached copy
PREPARED = "prepared"  # the key of the cache `ganforge data prepare --out DIR` writes: DIR/prepared.json


def class_layout(source: ImageSource) -> tuple[dict[str, int], list[str] | None]:
    """Image names -> ({name: label}, class names): a StyleGAN dataset.json's labels, else class
    subfolders; (all zero, None) when unlabelled."""
    names = source.names
    if source.labels is not None:
        count = max(source.labels.values(), default=-1) + 1
        return source.labels, [str(label) for label in range(count)]
    relative = strip_wrapper_folders(names)
    if any(len(PurePosixPath(rel).parts) == 1 for rel in relative):
        return dict.fromkeys(names, 0), None
    tops = [PurePosixPath(rel).parts[0] for rel in relative]
    classes = sorted(set(tops))
    index = {name: i for i, name in enumerate(classes)}
    return {name: index[top] for name, top in zip(names, tops, strict=True)}, classes


def label_facts(source: ImageSource) -> dict[str, object]:
    """What a cache records about the labels, so a prepared set needs no source to be labelled."""
    label_of, class_names = class_layout(source)
    return {"labels": label_of if class_names else None, "class_names": class_names}


def decode_source(source: ImageSource, cache_dir: Path, resolution: int, crop: str) -> Decoded:
    """The decoded images of ``source``: cached (memory-mapped) for big sets, else in memory."""
    if len(source.names) < CACHE_MIN_IMAGES:
        images, kept = decode_images(source, resolution, crop)
        if not kept:
            raise GanforgeError(f"no readable image in {source.location}: all {len(source.names)} image files "
                                "failed to decode")
        kept_set = set(kept)
        skipped = [name for name in source.names if name not in kept_set]
        return Decoded(images, kept, len(skipped), skipped)
    key = cache_key("folder", source.location.resolve(), resolution, crop)
    return cached_or_built(cache_dir, key, source, resolution, crop)


def as_dataset(decoded: Decoded, labels: dict[str, int] | None, class_names: list[str] | None,
               name: str) -> TensorDataset:
    values = np.array([labels[n] for n in decoded.names] if labels and class_names else
                      np.zeros(len(decoded.names)), dtype=np.int64)
    return TensorDataset(torch.from_numpy(decoded.images), torch.from_numpy(values),
                         num_classes=len(class_names) if class_names else 0, name=name,
                         class_names=class_names, skipped=decoded.skipped)


def prepare(path: Path, out: Path, resolution: int, crop: str, workers: int | None) -> Decoded:
    """Decode the images at ``path`` into the prepared cache folder ``out`` (``ganforge data prepare``)."""
    with open_image_source(path) as source:
        if not source.names:
            raise GanforgeError(f"no image files ({' '.join(IMAGE_EXTENSIONS)}) in {path}; check the path")
        return build_decoded(out, PREPARED, source, resolution, crop=crop, workers=workers,
                             extra={"source": str(path.resolve()), **label_facts(source)})


def load_prepared(path: Path, arg: str, resolution: int | None) -> TensorDataset:
    """A folder written by ``ganforge data prepare --out``; rebuilt first when its source has changed."""
    meta = json.loads((path / f"{PREPARED}.json").read_text())
    if resolution and resolution != meta.get("resolution"):
        raise GanforgeError(f"{path} was prepared at {meta.get('resolution')} px, not {resolution}; train with "
                            f"--resolution {meta.get('resolution')} or run `ganforge data prepare` again")
    source_path = Path(str(meta.get("source", "")))
    decoded = None
    if source_path.exists():
        with open_image_source(source_path) as source:
            decoded = load_decoded(path, PREPARED, source.fingerprint)
        if decoded is None:  # the source changed since: never serve a stale set
            decoded = prepare(source_path, path, int(meta["resolution"]), str(meta.get("crop", "center")), None)
            meta = json.loads((path / f"{PREPARED}.json").read_text())
    decoded = decoded or load_decoded(path, PREPARED, None)
    if decoded is None:
        raise GanforgeError(f"{path} holds a damaged prepared set; run `ganforge data prepare` again")
    warn_skipped(decoded.skipped, path, decoded.skipped_names, skipped_listing(path, PREPARED))
    return as_dataset(decoded, meta.get("labels"), meta.get("class_names"), f"folder:{arg}")


def load_folder(arg: str | None, cache_dir: Path, download: bool, resolution: int | None,
                crop: str = "center") -> TensorDataset:
    if not arg:
        raise GanforgeError("folder dataset needs a path, e.g. --data folder:~/pictures")
    path = Path(arg).expanduser()
    if (path / f"{PREPARED}.json").is_file():
        return load_prepared(path, arg, resolution)
    resolution = resolution or DEFAULT_RESOLUTION
    with open_image_source(path) as source:
        if not source.names:
            raise GanforgeError(f"no image files ({' '.join(IMAGE_EXTENSIONS)}) in {path}; check the path")
        decoded = decode_source(source, cache_dir, resolution, crop)
        label_of, class_names = class_layout(source)
    listing = skipped_listing(decoded_dir(cache_dir), cache_key("folder", path.resolve(), resolution, crop))
    warn_skipped(decoded.skipped, path, decoded.skipped_names, listing if listing.is_file() else None)
    return as_dataset(decoded, label_of, class_names, f"folder:{arg}")


FOLDER = DatasetSource(
    name="folder",
    description="your images: a folder (recursive) or .zip; class subfolders become labels; "
                "center-cropped, resized to --resolution (default 64)",
    load=load_folder,
    kind=IMAGE,
    is_present=lambda cache_dir: None,  # depends on the path, not on the cache
    takes_argument=True,
    example="folder:~/pictures",
    metavar="PATH",
    classes_note="subfolders",
    crops=True,
)
