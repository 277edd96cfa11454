"""Prepared sets: ``ganforge data prepare``'s work, and reading the folders it writes with ``--out``.

A prepared folder holds the decoded cache under the key ``prepared`` (``prepared.json``, the memory-mapped
``.npy``, ``prepared.skipped.txt``) and records its source and labels; it trains as ``folder:DIR``.
When the recorded source still exists and has changed, the folder is rebuilt before it is read.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ganforge.data.base import TensorDataset
from ganforge.data.cache import (
    Decoded,
    build_decoded,
    decoded_dir,
    load_decoded,
    skipped_listing,
    warn_skipped,
)
from ganforge.data.decoded import as_dataset, class_layout, label_facts, source_key
from ganforge.data.hf import open_hf_source
from ganforge.data.images import IMAGE_EXTENSIONS, ImageSource, open_image_source
from ganforge.data.stylegan import write_stylegan_zip
from ganforge.errors import GanforgeError, user_path

PREPARED = "prepared"  # the key of the cache `ganforge data prepare --out DIR` writes: DIR/prepared.json
FORMATS = {"cache": "the memory-mapped decoded cache ganforge trains from (the dataset cache, or a folder "
                    "with --out that trains as --data folder:DIR)",
           "stylegan-zip": "an uncompressed zip of PNGs + dataset.json labels, as StyleGAN2-ADA/3, EDM and "
                           "R3GAN read (--out FILE.zip; trains as --data folder:FILE.zip)"}


@dataclass
class Prepared:
    """What ``ganforge data prepare`` did: where the result is, how many images, which were skipped."""

    path: Path
    decoded: Decoded
    listing: Path | None  # the file naming every skipped image
    seconds: float
    up_to_date: bool = False  # the cache was already built from these very files


@contextlib.contextmanager
def image_source(spec: str) -> Iterator[ImageSource]:
    """The image files of a prepare SOURCE: ``hf:...``, ``folder:PATH`` or a plain folder/zip path."""
    if spec.startswith("hf:"):
        with open_hf_source(spec.removeprefix("hf:")) as source:
            yield source
        return
    path = Path(spec.removeprefix("folder:")).expanduser()
    with open_image_source(path) as source:
        if not source.names:
            raise GanforgeError(f"no image files ({' '.join(IMAGE_EXTENSIONS)}) in {path}; check the path")
        yield source


def source_spec(spec: str) -> str:
    """How a prepared folder records its source: hf: specs as given, paths made absolute."""
    return spec if spec.startswith("hf:") else str(Path(spec.removeprefix("folder:")).expanduser().resolve())


def prepare_folder(source: ImageSource, spec: str, out: Path, resolution: int, crop: str,
                   workers: int | None) -> Decoded:
    """Decode ``source`` into the prepared folder ``out`` (``ganforge data prepare --out``)."""
    return build_decoded(out, PREPARED, source, resolution, crop=crop, workers=workers,
                         extra={"source": source_spec(spec), **label_facts(source)})


def load_prepared(path: Path, arg: str, resolution: int | None) -> TensorDataset:
    """A folder written by ``ganforge data prepare --out``; rebuilt first when its source has changed."""
    meta = json.loads((path / f"{PREPARED}.json").read_text())
    if resolution and resolution != meta.get("resolution"):
        raise GanforgeError(f"{path} was prepared at {meta.get('resolution')} px, not {resolution}; train with "
                            f"--resolution {meta.get('resolution')} or run `ganforge data prepare` again")
    spec = str(meta.get("source", ""))
    decoded = None
    location = spec.removeprefix("hf:").partition("?")[0]
    if location and Path(location).expanduser().exists():  # a hub name or a made set is served as is
        with image_source(spec) as source:
            decoded = load_decoded(path, PREPARED, source.fingerprint)
            if decoded is None:  # the source changed since: never serve a stale set
                decoded = prepare_folder(source, spec, path, int(meta["resolution"]),
                                         str(meta.get("crop", "center")), None)
                meta = json.loads((path / f"{PREPARED}.json").read_text())
    decoded = decoded or load_decoded(path, PREPARED, None)
    if decoded is None:
        raise GanforgeError(f"{path} holds a damaged prepared set; run `ganforge data prepare` again")
    warn_skipped(decoded.skipped, path, decoded.skipped_names, skipped_listing(path, PREPARED))
    return as_dataset(decoded, meta.get("labels"), meta.get("class_names"), f"folder:{arg}")


def is_prepared(path: Path) -> bool:
    return (path / f"{PREPARED}.json").is_file()


def prepare(spec: str, resolution: int, *, out: Path | None, fmt: str, crop: str, workers: int | None,
            cache_dir: Path) -> Prepared:
    """Decode ``spec``'s images at ``resolution`` as ``fmt``: the dataset cache (``out`` None), a prepared
    folder (``out``), or a StyleGAN zip (``out``, a .zip). A cache already built from the same files is kept."""
    started = time.perf_counter()
    kind = "hf" if spec.startswith("hf:") else "folder"
    with image_source(spec) as source:
        folder, key = (out, PREPARED) if out is not None and fmt == "cache" else (
            decoded_dir(cache_dir), source_key(kind, source, resolution, crop))
        decoded = load_decoded(folder, key, source.fingerprint)
        up_to_date = decoded is not None
        with user_path(folder):
            if decoded is None and folder == out:
                decoded = prepare_folder(source, spec, folder, resolution, crop, workers)
            elif decoded is None:
                decoded = build_decoded(folder, key, source, resolution, crop=crop, workers=workers)
        label_of, class_names = class_layout(source)
    listing = skipped_listing(folder, key)
    path = folder / f"{key}.json"
    if fmt == "stylegan-zip":
        path = out if out is not None else Path(f"{Path(spec.partition(':')[2] or spec).name}-{resolution}.zip")
        labels = [label_of[name] for name in decoded.names] if class_names else None
        with user_path(path):
            write_stylegan_zip(decoded.images, labels, path)
    elif out is not None:
        path = out
    return Prepared(path, decoded, listing if listing.is_file() else None, time.perf_counter() - started,
                    up_to_date)
