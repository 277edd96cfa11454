"""Fixtures for the dataset tests: small files in the real formats, and local-only "mirrors".

Downloads are only ever served from file:// URLs or an http.server bound to 127.0.0.1.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import pickle
import socket
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge.data.download import RemoteFile


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """An empty cache folder, also set as $GANFORGE_CACHE so nothing touches ~/.cache."""
    folder = tmp_path / "cache"
    folder.mkdir()
    return folder


@pytest.fixture(autouse=True)
def _isolated_cache_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "env-cache"))


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A folder that plays the dataset's web server through file:// URLs."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    return folder


@pytest.fixture
def remote_for() -> Callable[..., RemoteFile]:
    """RemoteFile for a file in the mirror folder: its real md5 (or ``md5``) and a file:// URL."""

    def make(path: Path, md5: str | None = None, name: str | None = None,
             extra_urls: tuple[str, ...] = ()) -> RemoteFile:
        return RemoteFile(name or path.name, md5 or md5_of(path), (*extra_urls, path.as_uri()))

    return make


@pytest.fixture
def closed_port_url() -> Callable[[str], str]:
    """http://127.0.0.1:PORT/name on a port nobody listens on: a download that fails like no network."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return lambda name: f"http://127.0.0.1:{port}/{name}"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the mirror folder; /truncated/NAME promises the whole file but sends half of it."""

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/truncated/"):
            data = (Path(self.directory) / self.path.removeprefix("/truncated/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/html/"):
            body = b"<html><body>Google Drive - Quota exceeded</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@pytest.fixture
def http_mirror(mirror: Path) -> Iterator[str]:
    """Base URL (http://127.0.0.1:PORT/) of a local server for the mirror folder."""

    def handler(*args: object, **kwargs: object) -> _Handler:
        return _Handler(*args, directory=str(mirror), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# --- writers of the real file formats ---------------------------------------------------------------


def write_idx_gz(path: Path, array: np.ndarray) -> Path:
    """IDX: magic 0x0000 08 NDIM (unsigned bytes), big-endian int32 sizes, then the bytes; gzipped."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0))
    return path


@pytest.fixture
def idx_files() -> Callable[[Path, int], tuple[np.ndarray, np.ndarray]]:
    """Write train-images/train-labels IDX gz files of ``n`` random 28x28 digits into a folder."""

    def make(folder: Path, n: int = 12) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(0)
        images = rng.integers(1, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx_gz(folder / "train-images-idx3-ubyte.gz", images)
        write_idx_gz(folder / "train-labels-idx1-ubyte.gz", labels)
        return images, labels

    return make


def cifar_batch_bytes(data: np.ndarray, labels: list[int], batch: int) -> bytes:
    """A pickled batch laid out like the real ones (dict of data/labels/batch_label/filenames)."""
    entry = {"batch_label": f"training batch {batch} of 5", "labels": labels, "data": data,
             "filenames": [f"img_{batch}_{i}.png" for i in range(len(labels))]}
    return pickle.dumps(entry, protocol=2)


def add_tar_member(archive: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    archive.addfile(info, io.BytesIO(payload))


@pytest.fixture
def cifar_tarball() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """Write cifar-10-python.tar.gz with 5 small training batches (+ test batch and meta)."""

    def make(path: Path, per_batch: int = 3, poison: bytes | None = None) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(1)
        all_data, all_labels = [], []
        with tarfile.open(path, "w:gz") as archive:
            for b in range(1, 6):
                data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
                labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
                payload = poison if (poison is not None and b == 3) else cifar_batch_bytes(data, labels, b)
                add_tar_member(archive, f"cifar-10-batches-py/data_batch_{b}", payload)
                all_data.append(data)
                all_labels.extend(labels)
            add_tar_member(archive, "cifar-10-batches-py/test_batch", cifar_batch_bytes(data, labels, 6))
            meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                    "ship", "truck"], "num_vis": 3072, "num_cases_per_batch": per_batch}
            add_tar_member(archive, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
        return np.concatenate(all_data), np.array(all_labels)

    return make


def image_bytes(color: tuple[int, ...] | int, size: tuple[int, int] = (40, 30), mode: str = "RGB",
                fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def make_image() -> Callable[..., Path]:
    """Write a plain-colour image file (format from the extension) and return its path."""
    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}

    def make(path: Path, color: tuple[int, ...] | int = (200, 30, 30), size: tuple[int, int] = (40, 30),
             mode: str = "RGB") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image_bytes(color, size, mode, formats[path.suffix.lower()]))
        return path

    return make


@pytest.fixture
def image_data() -> Callable[..., bytes]:
    """Bytes of a plain-colour image file: ``image_data(color, size=(40, 30), mode="RGB", fmt="PNG")``."""
    return image_bytes


@pytest.fixture
def zip_of() -> Callable[[Path, dict[str, bytes]], Path]:
    def make(path: Path, members: dict[str, bytes]) -> Path:
        with zipfile.ZipFile(path, "w") as archive:
            for name, payload in members.items():
                archive.writestr(name, payload)
        return path

    return make
