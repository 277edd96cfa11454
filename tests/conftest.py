"""Fixtures shared by the tests that drive whole commands: the CLI in-process and as a subprocess, YAML
files written on the fly, one torch thread.

Training in those tests is tiny and runs on one CPU thread: on a shared machine two torch threads per
process make each step many times slower, not faster.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from ganforge.cli import main


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
