"""A cached reference never returns a value a fresh cache would not: fingerprints hash file contents."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge.cli import main
from ganforge.metrics.sources import files_source


def write_bmps(folder: Path, seed: int, count: int = 4) -> Path:
    """Uncompressed BMPs: the same side length always gives the same byte size, whatever the pixels."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.bmp")
    return folder


def rewrite_keeping_sizes_and_times(folder: Path, seed: int) -> None:
    """What ``cp -p`` / ``rsync -a`` of other same-size images does: new bytes, old sizes and mtimes."""
    before = {p.name: p.stat() for p in folder.iterdir()}
    write_bmps(folder, seed, count=len(before))
    for path in folder.iterdir():
        old = before[path.name]
        assert path.stat().st_size == old.st_size
        os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))


def fingerprint(path: Path) -> str:
    return files_source(path).identity["fingerprint"]


def test_folder_fingerprint_sees_content_with_the_same_sizes_and_mtimes(tmp_path):
    folder = write_bmps(tmp_path / "a", seed=1)
    first = fingerprint(folder)
    assert fingerprint(folder) == first
    rewrite_keeping_sizes_and_times(folder, seed=2)
    assert fingerprint(folder) != first


def test_zip_fingerprint_sees_content(tmp_path):
    folder = write_bmps(tmp_path / "a", seed=1)
    archive = tmp_path / "a.zip"

    def pack() -> None:
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as out:
            for path in sorted(folder.iterdir()):
                out.write(path, path.name)

    pack()
    first, size = fingerprint(archive), archive.stat().st_size
    rewrite_keeping_sizes_and_times(folder, seed=2)
    pack()
    assert archive.stat().st_size == size and fingerprint(archive) != first


def fid(a: Path, b: Path, weights: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["fid", str(a), str(b), "--inception-weights", str(weights), "--cache-dir", str(cache),
                 "--no-progress", "--json", "--device", "cpu"]) == 0
    return json.loads(capsys.readouterr().out)


def test_fid_recomputes_a_rewritten_reference(trunk_path, tmp_path, capsys):
    a, b = write_bmps(tmp_path / "a", seed=1), write_bmps(tmp_path / "b", seed=3)
    cache = tmp_path / "cache"
    before = fid(a, b, trunk_path, cache, capsys)["fid"]
    rewrite_keeping_sizes_and_times(a, seed=2)
    cached = fid(a, b, trunk_path, cache, capsys)["fid"]
    fresh = fid(a, b, trunk_path, tmp_path / "fresh-cache", capsys)["fid"]
    assert cached == fresh
    assert cached != pytest.approx(before)
