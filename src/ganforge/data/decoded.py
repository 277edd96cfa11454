"""A set of decoded image files as a :class:`TensorDataset`: labels from the source, the decoding cached
(memory-mapped) for big sets. Shared by ``folder:PATH``, ``hf:PATH`` and prepared folders."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ganforge.data.base import TensorDataset
from ganforge.data.cache import (
    Decoded,
    cache_key,
    cached_or_built,
    decode_in_memory,
    decoded_dir,
    skipped_listing,
    warn_skipped,
)
from ganforge.data.images import ImageSource, strip_wrapper_folders
from ganforge.data.rowfile import RowFile

DEFAULT_RESOLUTION = 64
CACHE_MIN_IMAGES = 2000  # below this, decoding is quicker than managing a cached copy


def class_layout(source: ImageSource) -> tuple[dict[str, int], list[str] | None]:
    """Image names -> ({name: label}, class names): a StyleGAN dataset.json's labels, else class
    subfolders; (all zero, None) when unlabelled."""
    names = source.names
    if source.labels is not None:
        count = max(source.labels.values(), default=-1) + 1
        return source.labels, source.class_names or [str(label) for label in range(count)]
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


def decode_source(source: ImageSource, cache_dir: Path, key: str, resolution: int, crop: str) -> Decoded:
    """The decoded images of ``source``: cached (memory-mapped) for big sets, else in memory."""
    if len(source.names) < CACHE_MIN_IMAGES:
        return decode_in_memory(source, resolution, crop)
    return cached_or_built(cache_dir, key, source, resolution, crop)


def as_dataset(decoded: Decoded, labels: dict[str, int] | None, class_names: list[str] | None,
               name: str) -> TensorDataset:
    values = np.array([labels[n] for n in decoded.names] if labels and class_names else
                      np.zeros(len(decoded.names)), dtype=np.int64)
    return TensorDataset(torch.from_numpy(decoded.images), torch.from_numpy(values),
                         num_classes=len(class_names) if class_names else 0, name=name,
                         class_names=class_names, skipped=decoded.skipped, rows=RowFile.of(decoded.images))


def source_key(kind: str, source: ImageSource, resolution: int, crop: str) -> str:
    """The decoded cache's key of ``source``: a folder or zip by its absolute path (its fingerprint is
    checked on load), an ``hf:`` set by its fingerprint (its location may be a hub name)."""
    where = source.fingerprint if kind == "hf" else source.location.resolve()
    return cache_key(kind, where, resolution, crop)


def load_source(source: ImageSource, kind: str, where: object, name: str, cache_dir: Path, resolution: int,
                crop: str) -> TensorDataset:
    """An open folder/zip/hf ``source`` as a dataset: decoded (cached when big), its skipped files named
    (``where`` in the warning), labelled by its class layout, called ``name``."""
    key = source_key(kind, source, resolution, crop)
    decoded = decode_source(source, cache_dir, key, resolution, crop)
    label_of, class_names = class_layout(source)
    listing = skipped_listing(decoded_dir(cache_dir), key)
    warn_skipped(decoded.skipped, where, decoded.skipped_names, listing if listing.is_file() else None)
    return as_dataset(decoded, label_of, class_names, name)
