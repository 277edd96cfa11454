"""Fixtures for the tune tests: tiny toy2d studies, their trials read back from the storage, and a real
PostgreSQL server in a temporary folder (Debian's postgresql package; `make browser` installs it).

A trial here trains the vanilla MLP on toy2d:ring for 200 steps (about 2 s on one CPU thread); the PacGAN
scores are measured every 50 steps.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from studies import study_document


@pytest.fixture
def write_study(write_yaml: Callable[..., Path]) -> Callable[..., Path]:
    """write_study(**top-level keys) -> a study file (see study_document) in tmp_path."""

    def write(name: str = "study.yaml", **top: Any) -> Path:
        return write_yaml(study_document(**top), name)

    return write


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_tool(name: str) -> str:
    """A PostgreSQL server program: on PATH, or where Debian's postgresql-NN package puts it."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.fail(f"{name} not found: install Debian's postgresql package (make browser does)")
    return found


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 with an empty database, started for the test and stopped after.

    The server refuses to run as root, so as root it runs as the postgres user Debian's package creates."""
    folder = Path(tempfile.mkdtemp(prefix="ganforge-pg-"))  # under /tmp: the postgres user can reach it
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        # runuser lives in /usr/sbin, which a non-login PATH may lack
        runuser = shutil.which("runuser", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
        as_user = [runuser or "runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()

    def run(*argv: str) -> None:
        subprocess.run([*as_user, *argv], check=True, capture_output=True, timeout=120)

    run(postgres_tool("initdb"), "-D", str(data), "-U", "ganforge", "-A", "trust")
    run(postgres_tool("pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start")
    try:
        run(postgres_tool("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "ganforge", "study")
        yield f"postgresql://ganforge@127.0.0.1:{port}/study"
    finally:
        run(postgres_tool("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
