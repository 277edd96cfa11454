"""Fixtures for every test folder: small real filesystems for the fault tests, a full disk and a
read-only folder.

As root (CI containers, this machine) both are tmpfs mounts: a 200 KiB one fills up on the first
checkpoint, a remount with ``ro`` refuses every write with EROFS. Without root a read-only folder is a
``chmod 555`` folder (EACCES, which a non-root process cannot bypass), and a full disk cannot be made,
so :func:`full_folder` says so and the caller simulates ENOSPC at the write instead.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

TINY_TMPFS = "200k"


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def can_mount() -> bool:
    return os.geteuid() == 0


@contextmanager
def mounted_full_folder(folder: Path, size: str = TINY_TMPFS) -> Iterator[Path | None]:
    """A folder on a ``size`` tmpfs (so writes beyond it fail with ENOSPC), or None where mounting is
    not allowed (not root, or a container without CAP_SYS_ADMIN)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not can_mount() or not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)):
        yield None
        return
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@contextmanager
def mounted_read_only_folder(folder: Path, copy_of: Path | None = None) -> Iterator[Path]:
    """A folder no write can go into, holding a copy of ``copy_of`` when given: a read-only tmpfs as
    root, else mode 555 (skipped for a root that cannot mount)."""
    folder.mkdir(parents=True, exist_ok=True)
    if can_mount() and _mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)):
        if copy_of is not None:
            shutil.copytree(copy_of, folder, dirs_exist_ok=True)
        if not _mount("-o", "remount,ro", str(folder)):
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
            raise RuntimeError(f"could not remount {folder} read-only")
        try:
            yield folder
        finally:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        return
    if os.geteuid() == 0:
        pytest.skip("root ignores file modes and this container may not mount a read-only tmpfs "
                    "(no CAP_SYS_ADMIN): no folder here refuses root's writes")
    if copy_of is not None:
        shutil.copytree(copy_of, folder, dirs_exist_ok=True)
    mode = folder.stat().st_mode
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    try:
        yield folder
    finally:
        folder.chmod(mode)


@pytest.fixture
def full_folder(tmp_path: Path) -> Iterator[Path | None]:
    """A folder on a 200 KiB tmpfs, or None where the platform forbids mounting (simulate ENOSPC then)."""
    with mounted_full_folder(tmp_path / "full") as folder:
        yield folder


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder every write into fails (EROFS as root, EACCES otherwise)."""
    with mounted_read_only_folder(tmp_path / "read-only") as folder:
        yield folder


@pytest.fixture
def read_only_copy(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """``read_only_copy(folder)``: a copy of ``folder`` that no write can go into."""
    with ExitStack() as stack:
        def copy(source: Path) -> Path:
            return stack.enter_context(mounted_read_only_folder(tmp_path / f"read-only-{source.name}", source))

        yield copy
