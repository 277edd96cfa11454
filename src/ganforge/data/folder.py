"""``folder:PATH``: your own images, from a folder (searched recursively) or a .zip.

Images (.png .jpg .jpeg .webp .bmp, any case) are center-cropped to a square and resized to the
requested resolution (64 by default). Labels come from class subfolders, ``PATH/cat/1.jpg`` and
``PATH/dog/2.jpg`` -> classes ``cat``, ``dog`` (sorted); when any image sits directly in the root the
set is unlabelled. A single folder holding everything (typical of zips) is looked through, not a class.
Unreadable files are skipped and counted. Folders of 2,000+ images are decoded once and cached.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ganforge.data.base import IMAGE, DatasetSource, TensorDataset
from ganforge.data.images import (
    IMAGE_EXTENSIONS,
    Decoded,
    cache_key,
    decode_images,
    load_decoded,
    open_image_source,
    save_decoded,
    strip_wrapper_folders,
    warn_skipped,
)
from ganforge.errors import GanforgeError

DEFAULT_RESOLUTION = 64
CACHE_MIN_IMAGES = 2000  # below this, decoding is quicker than managing a cached copy


def class_layout(names: list[str]) -> tuple[dict[str, int], list[str] | None]:
    """Relative image names -> ({name: label}, class names); (all zero, None) when unlabelled."""
    relative = strip_wrapper_folders(names)
    if any(len(PurePosixPath(rel).parts) == 1 for rel in relative):
        return dict.fromkeys(names, 0), None
    tops = [PurePosixPath(rel).parts[0] for rel in relative]
    classes = sorted(set(tops))
    index = {name: i for i, name in enumerate(classes)}
    return {name: index[top] for name, top in zip(names, tops, strict=True)}, classes


def load_folder(arg: str | None, cache_dir: Path, download: bool, resolution: int | None) -> TensorDataset:
    if not arg:
        raise GanforgeError("folder dataset needs a path, e.g. --data folder:~/pictures")
    path = Path(arg).expanduser()
    resolution = resolution or DEFAULT_RESOLUTION
    with open_image_source(path) as source:
        if not source.names:
            raise GanforgeError(f"no image files ({' '.join(IMAGE_EXTENSIONS)}) in {path}; check the path")
        use_cache = len(source.names) >= CACHE_MIN_IMAGES
        key = cache_key("folder", path.resolve(), resolution)
        decoded = load_decoded(cache_dir, key, source.fingerprint) if use_cache else None
        if decoded is None:
            images, kept = decode_images(source, resolution)
            if not kept:
                raise GanforgeError(f"no readable image in {path}: all {len(source.names)} image files failed "
                                    "to decode")
            decoded = Decoded(images, kept, len(source.names) - len(kept))
            if use_cache:
                save_decoded(cache_dir, key, source.fingerprint, decoded)
        label_of, class_names = class_layout(source.names)
    warn_skipped(decoded.skipped, path)
    labels = torch.from_numpy(np.array([label_of[name] for name in decoded.names], dtype=np.int64))
    return TensorDataset(torch.from_numpy(decoded.images), labels,
                         num_classes=len(class_names) if class_names else 0, name=f"folder:{arg}",
                         class_names=class_names, skipped=decoded.skipped)


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
)
