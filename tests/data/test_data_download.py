"""Downloads: md5 verification, mirrors, truncation, interruption, atomic writes."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from ganforge.data import download
from ganforge.data.download import DOWNLOADS_RECORD, RemoteFile, atomic_path, ensure_files
from ganforge.errors import GanforgeError


def _leftovers(folder: Path) -> list[str]:
    """The folder's files besides ganforge's record of what it downloaded."""
    return sorted(p.name for p in folder.iterdir() if p.name != DOWNLOADS_RECORD) if folder.exists() else []


def test_download_verifies_and_writes_the_file(mirror, cache, remote_for):
    (mirror / "a.bin").write_bytes(b"payload" * 1000)
    (path,) = ensure_files("demo", [remote_for(mirror / "a.bin")], cache / "demo", download=True)
    assert path == cache / "demo" / "a.bin"
    assert path.read_bytes() == b"payload" * 1000
    assert _leftovers(cache / "demo") == ["a.bin"]  # no temporary file left


def test_checksum_mismatch_removes_the_download_and_says_so(mirror, cache, remote_for):
    (mirror / "a.bin").write_bytes(b"not the published file")
    remote = remote_for(mirror / "a.bin", md5="0" * 32)
    with pytest.raises(GanforgeError, match="checksum mismatch") as info:
        ensure_files("demo", [remote], cache / "demo", download=True)
    assert str(cache / "demo" / "a.bin") in str(info.value)
    assert "\n" not in str(info.value)
    assert _leftovers(cache / "demo") == []


def test_a_hand_placed_file_that_fails_its_checksum_is_kept_when_downloading_is_off(mirror, cache, remote_for):
    (mirror / "a.bin").write_bytes(b"good")
    remote = remote_for(mirror / "a.bin")
    (cache / "demo").mkdir()
    (cache / "demo" / "a.bin").write_bytes(b"goo")  # e.g. a re-compressed copy placed by hand
    with pytest.raises(GanforgeError, match="checksum mismatch.*left as it is") as info:
        ensure_files("demo", [remote], cache / "demo", download=False)
    assert "\n" not in str(info.value)
    assert (cache / "demo" / "a.bin").read_bytes() == b"goo"  # the user's file is never deleted


def test_a_hand_placed_bad_file_is_moved_aside_when_a_download_replaces_it(mirror, cache, remote_for, capsys):
    (mirror / "a.bin").write_bytes(b"good")
    (cache / "demo").mkdir()
    (cache / "demo" / "a.bin").write_bytes(b"bad!")
    (path,) = ensure_files("demo", [remote_for(mirror / "a.bin")], cache / "demo", download=True)
    assert path.read_bytes() == b"good"
    assert (cache / "demo" / "a.bin.rejected").read_bytes() == b"bad!"
    assert "kept your file as a.bin.rejected" in capsys.readouterr().err


def test_a_corrupted_download_of_ganforge_s_own_is_replaced(mirror, cache, remote_for):
    (mirror / "a.bin").write_bytes(b"good")
    remote = remote_for(mirror / "a.bin")
    (path,) = ensure_files("demo", [remote], cache / "demo", download=True)
    path.write_bytes(b"rot!")  # bit rot after ganforge's verified download
    (path,) = ensure_files("demo", [remote], cache / "demo", download=True)
    assert path.read_bytes() == b"good" and not (cache / "demo" / "a.bin.rejected").exists()


def test_truncated_http_download_leaves_nothing_and_next_mirror_is_used(mirror, cache, http_mirror):
    payload = bytes(range(256)) * 400
    (mirror / "a.bin").write_bytes(payload)
    good = RemoteFile("a.bin", download.hashlib.md5(payload).hexdigest(), (http_mirror + "truncated/a.bin",))
    with pytest.raises(GanforgeError, match="truncated") as info:
        ensure_files("demo", [good], cache / "demo", download=True)
    assert http_mirror + "truncated/a.bin" in str(info.value)
    assert _leftovers(cache / "demo") == []

    with_fallback = RemoteFile(good.name, good.md5, (http_mirror + "truncated/a.bin", http_mirror + "a.bin"))
    (path,) = ensure_files("demo", [with_fallback], cache / "demo", download=True)
    assert path.read_bytes() == payload
    assert _leftovers(cache / "demo") == ["a.bin"]


def test_web_page_instead_of_file_is_rejected(mirror, cache, http_mirror):
    remote = RemoteFile("img.zip", "0" * 32, (http_mirror + "html/img.zip",))
    with pytest.raises(GanforgeError, match="web page instead of the file"):
        ensure_files("demo", [remote], cache / "demo", download=True)
    assert _leftovers(cache / "demo") == []


def test_interrupted_download_leaves_no_partial_file(cache, monkeypatch):
    class Response(io.BytesIO):
        headers = {"Content-Length": "4000000"}

        def read(self, size: int = -1) -> bytes:
            if self.tell() >= 1_000_000:
                raise KeyboardInterrupt
            return super().read(size)

    monkeypatch.setattr(download, "urlopen", lambda request, timeout: Response(b"x" * 4_000_000))
    remote = RemoteFile("big.bin", "0" * 32, ("http://127.0.0.1:9/big.bin",))
    with pytest.raises(KeyboardInterrupt):
        ensure_files("demo", [remote], cache / "demo", download=True)
    assert _leftovers(cache / "demo") == []


def test_missing_files_without_network_name_urls_and_folder(cache, closed_port_url):
    urls = (closed_port_url("a.bin"), closed_port_url("mirror2/a.bin"))
    remote = RemoteFile("a.bin", "0" * 32, urls)
    with pytest.raises(GanforgeError) as info:
        ensure_files("demo", [remote], cache / "demo", download=True)
    message = str(info.value)
    assert all(url in message for url in urls)
    assert str(cache / "demo" / "a.bin") in message
    assert not (cache / "demo").exists()  # a failed first download leaves no folder behind


def test_atomic_path_renames_only_on_success(tmp_path):
    dest = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert _leftovers(tmp_path) == []
    with atomic_path(dest) as tmp:
        assert tmp.parent == dest.parent and tmp.name.endswith(".part")
        tmp.write_text("whole")
    assert dest.read_text() == "whole"
    assert _leftovers(tmp_path) == ["out.txt"]


def test_stale_temporary_files_of_killed_downloads_are_cleaned(mirror, cache, remote_for):
    (mirror / "a.bin").write_bytes(b"data")
    folder = cache / "demo"
    folder.mkdir()
    stale, live = folder / ".a.bin.old1.part", folder / ".a.bin.new2.part"
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    ensure_files("demo", [remote_for(mirror / "a.bin")], folder, download=True)
    assert not stale.exists() and live.exists()  # a recent one may belong to a download in progress
