"""Fetching dataset files into the cache: mirrors, md5 verification, progress bar, atomic writes.

A file only ever appears under its final name once it is complete and verified: it is streamed to a
hidden temporary file in the same folder, checked, fsync'ed and renamed. An interrupted or failed
download removes its temporary file, so nothing partial is later mistaken for data.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import http.client
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from ganforge import __version__
from ganforge.errors import GanforgeError
from ganforge.progress import progress_bar

CHUNK = 1 << 20
TIMEOUT_S = 60.0
STALE_PART_S = 3600.0


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name in the dataset's cache folder, md5 and mirrors (tried in order).

    Each source keeps a module-level tuple of these (``mnist.MNIST_FILES``...); tests substitute their
    own tuple pointing at local files, so the verification code itself is never bypassed.
    """

    name: str
    md5: str
    urls: tuple[str, ...]


class ChecksumError(GanforgeError):
    """A file's md5 differs from the published one (truncated, corrupt or the wrong file)."""


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make a rename durable; some platforms (Windows) cannot open a folder, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success it is fsync'ed and renamed onto ``dest``.

    The temporary file is hidden and ends in ``.part``, so it never matches a name a loader looks for;
    any exception (KeyboardInterrupt included) removes it.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)


def _stream(url: str, out_path: Path, label: str) -> str:
    """Copy ``url`` into ``out_path``; returns the md5. Raises OSError-family errors on failure."""
    request = Request(url, headers={"User-Agent": f"ganforge/{__version__}"})
    with urlopen(request, timeout=TIMEOUT_S) as response:
        content_type = response.headers.get("Content-Type", "") or ""
        if content_type.startswith("text/html") and not label.endswith((".html", ".htm")):
            # Google Drive answers quota/virus-scan problems with a web page instead of the file
            raise OSError("the server sent a web page instead of the file (quota exceeded or sign-in needed)")
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        digest = hashlib.md5(usedforsecurity=False)
        received = 0
        with open(out_path, "wb") as out, progress_bar(total=expected, unit="B", unit_scale=True, desc=label,
                                                       leave=False) as bar:
            while block := response.read(CHUNK):
                out.write(block)
                digest.update(block)
                received += len(block)
                bar.update(len(block))
    if expected is not None and received != expected:
        raise OSError(f"truncated download: got {received} of {expected} bytes")
    return digest.hexdigest()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, http.client.IncompleteRead):
        return "truncated download (connection closed early)"
    if isinstance(exc, HTTPError):
        return str(exc)
    return str(getattr(exc, "reason", None) or exc)


def remove_stale_parts(folder: Path, name: str, max_age_s: float = STALE_PART_S) -> None:
    """Delete temporary files of downloads killed outright (SIGKILL, power loss) long ago.

    A live download writes its temporary file continuously, so one untouched for an hour is dead.
    """
    now = time.time()
    for part in folder.glob(f".{glob.escape(name)}.*.part"):
        with contextlib.suppress(OSError):
            if now - part.stat().st_mtime > max_age_s:
                part.unlink()


def download_file(remote: RemoteFile, folder: Path, hint: str = "") -> Path:
    """Fetch ``remote`` into ``folder`` from the first mirror that delivers a verified copy."""
    dest = folder / remote.name
    if folder.is_dir():
        remove_stale_parts(folder, remote.name)
    failures = []
    for url in remote.urls:
        print(f"ganforge: downloading {url} -> {dest}", file=sys.stderr)
        try:
            with atomic_path(dest) as tmp:
                md5 = _stream(url, tmp, remote.name)
                if md5 != remote.md5:
                    raise ChecksumError(f"md5 {md5} instead of {remote.md5}")
            record_download(dest, md5)
            return dest
        except ChecksumError as exc:
            failures.append(f"{url}: checksum mismatch ({exc}), bad download removed")
        except (OSError, URLError, http.client.HTTPException, ValueError) as exc:
            # URLError/HTTPError are OSErrors; IncompleteRead is an HTTPException; ValueError: bad URL
            failures.append(f"{url}: {_reason(exc)}")
    with contextlib.suppress(OSError):
        folder.rmdir()  # only succeeds when empty: leave no trace of a failed first download
    raise GanforgeError(
        f"could not download {remote.name} ({'; '.join(failures)}); place the file by hand at {dest}{hint}"
    )


DOWNLOADS_RECORD = ".ganforge-downloads.json"  # in each dataset folder: the files ganforge fetched itself


def _record_path(path: Path) -> Path:
    return path.parent / DOWNLOADS_RECORD


def downloaded_here(path: Path) -> bool:
    """Whether ganforge itself downloaded ``path``: only such a file may ever be deleted by ganforge."""
    try:
        return path.name in json.loads(_record_path(path).read_text())
    except (OSError, ValueError, TypeError):
        return False


def record_download(path: Path, md5: str) -> None:
    record = _record_path(path)
    try:
        names = json.loads(record.read_text())
    except (OSError, ValueError):
        names = {}
    names[path.name] = md5
    with atomic_path(record) as tmp:
        tmp.write_text(json.dumps(names, indent=1) + "\n")


def move_aside(path: Path) -> Path:
    """Rename a file the user placed to ``NAME.rejected`` (``.rejected2``, ...) beside it; never delete it."""
    target, number = path.with_name(path.name + ".rejected"), 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.rejected{number}")
    os.replace(path, target)
    return target


def check_cached_file(remote: RemoteFile, path: Path, download: bool) -> None:
    """A cached file whose md5 is not the published one: a corrupt download of ganforge's own is deleted;
    a file the user placed is kept, in place when nothing replaces it, moved aside when a download will."""
    md5 = file_md5(path)
    if md5 == remote.md5:
        return
    mismatch = f"checksum mismatch for {path} (md5 {md5}, expected {remote.md5})"
    if downloaded_here(path):
        path.unlink(missing_ok=True)
        if not download:
            raise ChecksumError(f"{mismatch}: ganforge's earlier download is corrupt and was removed; run "
                                "again with downloading on to fetch it afresh")
        print(f"ganforge: warning: {mismatch}; ganforge's earlier download is corrupt, fetching it again",
              file=sys.stderr)
        return
    if not download:
        raise ChecksumError(f"{mismatch}: it is not the official file and was left as it is; replace it with "
                            f"the file from {' or '.join(remote.urls)}, or move it away and allow downloading")
    kept = move_aside(path)
    print(f"ganforge: warning: {mismatch}; kept your file as {kept.name}, downloading the official one",
          file=sys.stderr)


def missing_files_error(dataset: str, missing: Sequence[RemoteFile], folder: Path, hint: str = "") -> GanforgeError:
    names = ", ".join(remote.name for remote in missing)
    sources = "; ".join(f"{remote.name} from {' or '.join(remote.urls)}" for remote in missing)
    return GanforgeError(
        f"{dataset} files missing: {names} not in {folder}; downloading is off, so get {sources} and put "
        f"them in {folder}{hint} (or run: ganforge data download {dataset})"
    )


def ensure_files(dataset: str, files: Sequence[RemoteFile], folder: Path, download: bool,
                 hint: str = "") -> list[Path]:
    """Paths of ``files`` in ``folder``, verified; missing ones are downloaded when ``download``.

    A cached file with a wrong checksum is never silently used (see :func:`check_cached_file`).
    ``hint`` is appended to the error messages (another way to provide the files).
    """
    paths = []
    missing = [remote for remote in files if not (folder / remote.name).is_file()]
    if missing and not download:
        raise missing_files_error(dataset, missing, folder, hint)
    for remote in files:
        path = folder / remote.name
        if path.is_file():
            check_cached_file(remote, path, download)
        if not path.is_file():
            download_file(remote, folder, hint)
        paths.append(path)
    return paths


class CorruptFileError(GanforgeError):
    """A verified-looking file could not be decoded."""


@contextlib.contextmanager
def removing_if_corrupt(path: Path, what: str) -> Iterator[None]:
    """Turn a decoding failure of ``path`` into a one-line error. ganforge's own download is deleted so the
    next run fetches it afresh; a file the user placed is moved aside, never deleted."""
    try:
        yield
    except GanforgeError:
        raise
    except Exception as exc:  # any parser error (EOFError, zlib.error, tarfile.ReadError...) means corrupt
        if downloaded_here(path):
            path.unlink(missing_ok=True)
            fate = "removed it, run the command again to download it afresh"
        else:
            fate = f"kept your file as {move_aside(path).name}; put the official file in its place"
        raise CorruptFileError(f"{path} is truncated or corrupt ({what}: {type(exc).__name__}: {exc}); "
                               f"{fate}") from exc
