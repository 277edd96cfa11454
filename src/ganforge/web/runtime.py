"""ONNX Runtime Web for exported pages: fetched once with npm's own client, verified, kept in the ganforge cache.

``npm pack onnxruntime-web@VERSION`` downloads the package tarball as the registry publishes it; before
anything is unpacked, its sha512 must equal ``INTEGRITY``, the ``dist.integrity`` npm publishes for that
version, pinned here. Only ``FILES`` are kept, in ``<cache>/onnxruntime-web/<VERSION>/``: the WASM-only
ES-module bundle (ONNX Runtime's JavaScript with the Emscripten glue inside) and the one ``.wasm`` it
loads (a SIMD build; the page runs it on one thread, since a static host cannot send the COOP/COEP headers
that threads need). That is about 14 MB; the WebGPU build would add 28 MB and is left out.

``--runtime DIR`` takes a copy the user already has instead: the package folder (``node_modules/
onnxruntime-web``), its ``dist/`` folder, or the ``.tgz`` that ``npm pack`` wrote (checked like a fetch).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from ganforge.data.base import default_cache_dir
from ganforge.errors import GanforgeError

PACKAGE = "onnxruntime-web"
VERSION = "1.30.0"
INTEGRITY = "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
ENTRY = "ort.wasm.bundle.min.mjs"
WASM = "ort-wasm-simd-threaded.wasm"
FILES = (ENTRY, WASM)
MARKER = "integrity.txt"  # a cache folder is complete once this names INTEGRITY
NPM_TIMEOUT_S = 600
LICENSE = "MIT (Copyright (c) Microsoft Corporation; the notice heads ort.wasm.bundle.min.mjs)"


@dataclass(frozen=True)
class Runtime:
    folder: Path  # holds FILES
    version: str
    source: str  # how it was obtained, for the export's summary line
    name: str = PACKAGE
    entry: str = ENTRY
    wasm: str = WASM
    files: tuple[str, ...] = FILES
    license: str = LICENSE


def both_ways() -> str:
    return (f"install npm (ganforge then fetches {PACKAGE}@{VERSION} with npm's own client into its cache), or "
            f"pass --runtime DIR with a copy you have (the {PACKAGE} package folder, its dist/ folder, or the "
            f".tgz from `npm pack {PACKAGE}@{VERSION}`)")


def integrity_of(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def cache_folder(cache_dir: Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()).expanduser() / PACKAGE / VERSION


def is_complete(folder: Path) -> bool:
    marker = folder / MARKER
    return marker.is_file() and marker.read_text().strip() == INTEGRITY and all((folder / f).is_file() for f in FILES)


def unpack(tarball: Path, cache: Path) -> Path:
    """Verify ``tarball`` against INTEGRITY, then move just FILES into ``cache`` (atomically)."""
    found = integrity_of(tarball)
    if found != INTEGRITY:
        raise GanforgeError(f"{tarball.name} does not match the integrity npm publishes for {PACKAGE}@{VERSION} "
                            f"(got {found[:27]}..., expected {INTEGRITY[:27]}...); not using it")
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{cache.name}.", dir=cache.parent))
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for name in FILES:  # members are read by name only: nothing else of the archive is written
                member = archive.extractfile(f"package/dist/{name}")
                if member is None:
                    raise GanforgeError(f"{tarball.name} has no dist/{name}")
                with member, open(staging / name, "wb") as out:
                    shutil.copyfileobj(member, out)
        (staging / MARKER).write_text(INTEGRITY + "\n")
        shutil.rmtree(cache, ignore_errors=True)
        os.replace(staging, cache)
    except (OSError, tarfile.TarError, KeyError) as exc:
        raise GanforgeError(f"cannot unpack {tarball}: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cache


def npm_pack(workdir: Path) -> Path:
    """``npm pack PACKAGE@VERSION`` in ``workdir``: the tarball's path (npm verifies the download itself)."""
    npm = shutil.which("npm")
    if npm is None:
        raise GanforgeError(f"the web export needs {PACKAGE} {VERSION} and npm is not installed: {both_ways()}")
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false",
           "npm_config_audit": "false"}
    try:
        result = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--json", "--pack-destination", str(workdir)],
                                cwd=workdir, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise GanforgeError(f"npm pack {PACKAGE}@{VERSION} took over {NPM_TIMEOUT_S} s; {both_ways()}") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit code {result.returncode}"
        raise GanforgeError(f"npm could not fetch {PACKAGE}@{VERSION} ({last}); {both_ways()}")
    try:
        report = json.loads(result.stdout)[0]
    except (json.JSONDecodeError, IndexError, KeyError):
        raise GanforgeError(f"npm pack printed no package report; {both_ways()}") from None
    if report.get("integrity") != INTEGRITY:
        raise GanforgeError(f"npm reports integrity {str(report.get('integrity'))[:27]}... for {PACKAGE}@{VERSION}, "
                            f"ganforge expects {INTEGRITY[:27]}...; not using it")
    return workdir / str(report.get("filename", f"{PACKAGE}-{VERSION}.tgz"))


def fetch(cache_dir: Path | None = None) -> Runtime:
    """The cached copy, fetched with npm first when the cache does not hold a complete one."""
    cache = cache_folder(cache_dir)
    if is_complete(cache):
        return Runtime(cache, VERSION, f"cached in {cache}")
    with tempfile.TemporaryDirectory(prefix="ganforge-npm-") as workdir:
        unpack(npm_pack(Path(workdir)), cache)
    return Runtime(cache, VERSION, f"fetched with npm into {cache}")


def package_version(dist: Path) -> str | None:
    for folder in (dist, dist.parent):
        try:
            document = json.loads((folder / "package.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(document, dict) and document.get("name") == PACKAGE:
            return str(document.get("version"))
    return None


def user_copy(path: Path, cache_dir: Path | None = None) -> Runtime:
    """``--runtime PATH``: a package folder, its dist/ folder, or npm pack's tarball."""
    path = path.expanduser()
    if path.is_file() and path.name.endswith(".tgz"):
        cache = unpack(path, cache_folder(cache_dir))
        return Runtime(cache, VERSION, f"verified {path.name}, unpacked into {cache}")
    if not path.is_dir():
        raise GanforgeError(f"--runtime {path} is neither a folder nor a .tgz; {both_ways()}")
    for dist in (path, path / "dist", path / "package" / "dist", path / "node_modules" / PACKAGE / "dist"):
        if all((dist / name).is_file() for name in FILES):
            version = VERSION if is_complete(dist) else package_version(dist)  # a ganforge cache folder, or npm's
            if version is not None and version != VERSION:
                warnings.warn(f"--runtime holds {PACKAGE} {version}; ganforge is tested with {VERSION}",
                              stacklevel=2)
            return Runtime(dist, version or "unknown", f"from {dist}")
    raise GanforgeError(f"--runtime {path} does not hold {' and '.join(FILES)} (nor in dist/); {both_ways()}")


def obtain(runtime: Path | None, cache_dir: Path | None = None) -> Runtime:
    return user_copy(runtime, cache_dir) if runtime is not None else fetch(cache_dir)
