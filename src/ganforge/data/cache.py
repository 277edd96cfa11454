"""Decoding many images, and the decoded-image cache that training memory-maps.

A source's images are decoded once at one resolution into a uint8 ``.npy`` file ``(N, C, R, R)`` plus a
JSON file naming it (``<folder>/<key>.json``). The array is written sequentially, chunk by chunk, as
decoding proceeds, so a set far larger than memory is cached with bounded memory; training opens it with
``mmap_mode``, so only the rows a batch reads are ever paged in (``--data-mode stream``).

Decoding runs on all cores: worker processes for a cache build (Pillow's resize holds the GIL part of the
time), threads for a small set decoded in memory. The names of the images that did not decode are kept
next to the cache (``<key>.skipped.txt``).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import numpy as np

from ganforge.data.download import atomic_path
from ganforge.data.images import ImageSource, Reader, decode_square
from ganforge.errors import GanforgeError
from ganforge.progress import progress_bar

CACHE_FORMAT = 2  # 2: the array is memory-mapped; written by chunks with a fixed-size .npy header
DECODE_CHUNK = 64  # images per task: small enough to balance the workers, bounds the pixels in flight
HEADER_BYTES = 128  # .npy header padded to a fixed size, so the final shape is written over it in place
SKIPPED_SHOWN = 3  # names of skipped files a message shows; the file next to the cache has them all


@dataclass
class Decoded:
    images: np.ndarray  # uint8 (N, C, R, R); a read-only-on-disk memory map when it comes from the cache
    names: list[str]  # the images that decoded, in order
    skipped: int
    skipped_names: list[str] = field(default_factory=list)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


# --- decoding ------------------------------------------------------------------------------------


def decode_chunk(read: Reader, names: Sequence[str], resolution: int, crop: str) -> list[np.ndarray | None]:
    """Decode ``names`` (CHW uint8, 1 or 3 channels); None for each file that cannot be read or decoded."""
    out: list[np.ndarray | None] = []
    for name in names:
        try:
            raw = read(name)
        except Exception:  # an unreadable member (bad CRC, encrypted, vanished file) = skipped
            out.append(None)
            continue
        array = decode_square(raw, resolution, crop)
        out.append(None if array is None else (array[None] if array.ndim == 2 else array.transpose(2, 0, 1)))
    return out


def _chunks(source: ImageSource, resolution: int, crop: str,
            pool: Executor | None, window: int) -> Iterator[tuple[list[str], list[np.ndarray | None]]]:
    """Each chunk of names with its decodings, in order; at most ``window`` chunks in flight."""
    names = source.names
    starts = iter(range(0, len(names), DECODE_CHUNK))
    pending: deque[tuple[list[str], Future[list[np.ndarray | None]]]] = deque()

    def submit() -> bool:
        start = next(starts, None)
        if start is None or pool is None:
            return False
        chunk = names[start:start + DECODE_CHUNK]
        pending.append((chunk, pool.submit(decode_chunk, source.read, chunk, resolution, crop)))
        return True

    if pool is None:
        for start in starts:
            chunk = names[start:start + DECODE_CHUNK]
            yield chunk, decode_chunk(source.read, chunk, resolution, crop)
        return
    while len(pending) < window and submit():
        pass
    while pending:
        chunk, future = pending.popleft()
        submit()
        yield chunk, future.result()


def _pool(workers: int, processes: bool) -> Executor | None:
    if workers <= 1:
        return None
    if processes:
        # fork where there is one: a spawned worker would import torch (seconds) before its first image; the
        # workers only run Pillow and NumPy, never torch's thread pools, as DataLoader workers do
        method = "fork" if "fork" in get_all_start_methods() else "spawn"
        return ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method))
    return ThreadPoolExecutor(max_workers=workers)


def decoded_chunks(source: ImageSource, resolution: int, crop: str, workers: int, processes: bool,
                   desc: str = "decoding images") -> Iterator[tuple[list[str], list[np.ndarray | None]]]:
    """Every chunk decoded (in order) on ``workers`` processes or threads, with a progress bar in img/s."""
    pool = _pool(min(workers, -(-len(source.names) // DECODE_CHUNK)), processes)  # no idle workers
    try:
        with progress_bar(total=len(source.names), desc=desc, unit="img", leave=False) as bar:
            for chunk, arrays in _chunks(source, resolution, crop, pool, window=2 * workers):
                yield chunk, arrays
                bar.update(len(chunk))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def decode_images(source: ImageSource, resolution: int, crop: str = "center",
                  workers: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Decode every image of ``source`` in memory into uint8 ``(N, C, R, R)`` and the names that decoded.

    C is 1 only when every readable image is gray; otherwise gray images are replicated to RGB.
    """
    out = np.empty((len(source.names), 3, resolution, resolution), dtype=np.uint8)
    kept: list[str] = []
    all_gray = True
    for chunk, arrays in decoded_chunks(source, resolution, crop, min(8, workers or default_workers()),
                                        processes=False):
        for name, array in zip(chunk, arrays, strict=True):
            if array is not None:
                all_gray = all_gray and array.shape[0] == 1
                out[len(kept)] = array  # a gray image broadcasts to the 3 channels
                kept.append(name)
    images = out[:len(kept), :1].copy() if all_gray else out[:len(kept)]
    return images, kept


def skipped_message(names: Sequence[str], where: object, listing: Path | None = None) -> str:
    """'skipped 3 unreadable images in X: a.png, b.jpg, c.png (all N listed in FILE)'."""
    count = len(names)
    shown = ", ".join(names[:SKIPPED_SHOWN]) + (", ..." if count > SKIPPED_SHOWN else "")
    where_all = f" (all {count} listed in {listing})" if listing is not None and count > SKIPPED_SHOWN else ""
    return f"skipped {count} unreadable image{'s' if count != 1 else ''} in {where}: {shown}{where_all}"


def warn_skipped(count: int, where: object, names: Sequence[str] = (), listing: Path | None = None) -> None:
    if not count:
        return
    if names:
        print(f"ganforge: warning: {skipped_message(names, where, listing)}", file=sys.stderr)
    else:
        print(f"ganforge: warning: skipped {count} unreadable image{'s' if count != 1 else ''} in {where}",
              file=sys.stderr)


# --- the cache -----------------------------------------------------------------------------------


def decoded_dir(cache_dir: Path) -> Path:
    return cache_dir / "decoded"


def skipped_listing(folder: Path, key: str) -> Path:
    return folder / f"{key}.skipped.txt"


def npy_header(shape: tuple[int, ...]) -> bytes:
    """A uint8 C-order .npy version 1 header of exactly HEADER_BYTES bytes (padded with spaces)."""
    text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {shape!r}, }}"
    body_size = HEADER_BYTES - 10
    if len(text) + 1 > body_size:
        raise ValueError(f"shape {shape} does not fit a {HEADER_BYTES}-byte header")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", body_size) + (text.ljust(body_size - 1) + "\n").encode("latin1")


def load_decoded(folder: Path, key: str, fingerprint: str | None) -> Decoded | None:
    """The cached decoding ``key`` in ``folder``, memory-mapped; None when absent, unreadable or made from
    other files. ``fingerprint`` None accepts any cached copy (the source files were deleted after decoding)."""
    try:
        meta = json.loads((folder / f"{key}.json").read_text())
        if meta.get("format") != CACHE_FORMAT or (fingerprint is not None and meta["fingerprint"] != fingerprint):
            return None
        # copy-on-write: the array is writable for torch.from_numpy, and nothing ever reaches the file
        images = np.load(folder / meta["array"], mmap_mode="c", allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(meta["names"]):
        return None
    return Decoded(images, list(meta["names"]), int(meta["skipped"]), list(meta.get("skipped_names", [])))


def _write_rows(path: Path, source: ImageSource, resolution: int, crop: str,
                workers: int) -> tuple[list[str], list[str], bool]:
    """Decode into ``path`` as a 3-channel .npy; (kept names, skipped names, every image gray)."""
    kept: list[str] = []
    skipped: list[str] = []
    all_gray = True
    with open(path, "wb") as handle:
        handle.write(npy_header((0, 3, resolution, resolution)))
        for chunk, arrays in decoded_chunks(source, resolution, crop, workers, processes=True):
            rows = []
            for name, array in zip(chunk, arrays, strict=True):
                if array is None:
                    skipped.append(name)
                    continue
                all_gray = all_gray and array.shape[0] == 1
                rows.append(np.broadcast_to(array, (3, resolution, resolution)))
                kept.append(name)
            if rows:
                handle.write(np.ascontiguousarray(np.stack(rows)).tobytes())
        handle.seek(0)
        handle.write(npy_header((len(kept), 3, resolution, resolution)))
    return kept, skipped, all_gray


def _write_gray(rgb: Path, dest: Path) -> None:
    """The first channel of the 3-channel array ``rgb`` as a 1-channel .npy, chunk by chunk."""
    images = np.load(rgb, mmap_mode="r", allow_pickle=False)
    with open(dest, "wb") as handle:
        handle.write(npy_header((len(images), 1, *images.shape[2:])))
        for start in range(0, len(images), 4 * DECODE_CHUNK):
            handle.write(np.ascontiguousarray(images[start:start + 4 * DECODE_CHUNK, :1]).tobytes())


def build_decoded(folder: Path, key: str, source: ImageSource, resolution: int, *, crop: str = "center",
                  workers: int | None = None, extra: dict[str, object] | None = None) -> Decoded:
    """Decode every image of ``source`` into the cache ``key`` of ``folder`` and return it memory-mapped.

    Each file is written to a hidden temporary name and renamed into place (the array, the skipped list,
    then the metadata naming both), so an interruption or a full disk leaves the previous cache or none,
    never a partial one. The array's name carries a digest of the fingerprint, so metadata is never paired
    with an array decoded from other files. OSError (full disk, read-only folder) propagates.
    """
    digest = hashlib.sha1(source.fingerprint.encode(), usedforsecurity=False).hexdigest()[:12]
    array_name = f"{key}.{digest}.npy"
    meta_path = folder / f"{key}.json"
    try:
        previous = json.loads(meta_path.read_text()).get("array")
    except (OSError, ValueError, AttributeError):
        previous = None
    with atomic_path(folder / array_name) as tmp:
        kept, skipped, all_gray = _write_rows(tmp, source, resolution, crop, workers or default_workers())
        if not kept:
            raise GanforgeError(f"no readable image in {source.location}: all {len(source.names)} image files "
                                "failed to decode")
        if all_gray:
            with atomic_path(tmp) as gray:
                _write_gray(tmp, gray)
    with atomic_path(skipped_listing(folder, key)) as tmp:
        tmp.write_text("".join(f"{name}\n" for name in skipped))
    meta = {"format": CACHE_FORMAT, "fingerprint": source.fingerprint, "array": array_name, "names": kept,
            "skipped": len(skipped), "skipped_names": skipped, "resolution": resolution, "crop": crop,
            **(extra or {})}
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps(meta))
    if previous and previous != array_name and "/" not in previous:
        (folder / previous).unlink(missing_ok=True)
    decoded = load_decoded(folder, key, source.fingerprint)
    if decoded is None:
        raise GanforgeError(f"the cache just written in {folder} cannot be read back; check the disk")
    return decoded


def cached_or_built(cache_dir: Path, key: str, source: ImageSource, resolution: int, crop: str) -> Decoded:
    """The cached decoding, built when absent or stale; a cache that cannot be written (full disk,
    read-only folder) is a warning and the images are decoded in memory instead."""
    folder = decoded_dir(cache_dir)
    cached = load_decoded(folder, key, source.fingerprint)
    if cached is not None:
        return cached
    try:
        return build_decoded(folder, key, source, resolution, crop=crop)
    except OSError as exc:
        print(f"ganforge: warning: could not cache the decoded images in {folder} ({exc}); "
              "decoding them in memory, and again next time", file=sys.stderr)
    return decode_in_memory(source, resolution, crop)


def decode_in_memory(source: ImageSource, resolution: int, crop: str) -> Decoded:
    """Every image of ``source`` decoded into memory, the unreadable ones named as skipped."""
    images, kept = decode_images(source, resolution, crop)
    if not kept:
        raise GanforgeError(f"no readable image in {source.location}: all {len(source.names)} image files "
                            "failed to decode")
    kept_set = set(kept)
    skipped = [name for name in source.names if name not in kept_set]
    return Decoded(images, kept, len(skipped), skipped)


def cache_key(*parts: object) -> str:
    """A file-name-safe key: readable prefix + digest of the parts (paths may hold any character)."""
    digest = hashlib.sha1("\0".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()[:16]
    return f"{parts[0]}-{digest}"
