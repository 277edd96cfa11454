"""Fixtures for the sweep tests: tiny run settings and sweep files written on the fly (the CLI, subprocess
and one-thread fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TINY = {"width": 8, "batch_size": 16, "z_dim": 16, "device": "cpu", "log_every": 5, "sample_every": 1000,
        "checkpoint_every": 1000}


@pytest.fixture
def tiny() -> dict[str, Any]:
    """Settings of a tiny run: width 8, batch 16, z_dim 16, CPU, a history row every 5 steps."""
    return dict(TINY)


@pytest.fixture
def write_sweep(write_yaml: Callable[..., Path]) -> Callable[..., Path]:
    """write_sweep(document or YAML text, name="study.yaml") -> path of the sweep file."""
    return write_yaml
