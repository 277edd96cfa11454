"""Strict reading of study and sweep files: unknown keys name the closest valid one, values are checked."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ganforge.config import read_yaml
from ganforge.errors import GanforgeError, did_you_mean


def read_mapping_file(path: Path, what: str, example: str) -> dict[str, Any]:
    raw = read_yaml(path, what)
    if not isinstance(raw, dict):
        raise GanforgeError(f"{what} {path} must be a mapping with keys like {example}")
    return raw


def check_keys(raw: Mapping[Any, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in raw:
        if str(key) not in allowed:
            raise GanforgeError(f"unknown key '{key}' in {where}{did_you_mean(str(key), allowed)}; "
                                f"valid keys: {', '.join(allowed)}")


def mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GanforgeError(f"{where} must be a mapping of key: value, got {type(value).__name__}")
    return value


def optional_int(value: Any, key: str, where: str, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise GanforgeError(f"{where}.{key} must be a whole number >= {minimum}, got {value!r}")
    return value


def file_header(raw: dict[str, Any], path: Path, out: Path | None) -> tuple[str, str, Path]:
    """The name (default: the file's stem; it names the default folder runs/<name>), the description and
    the output folder (``out``, else the file's out:, else runs/<name>) of a sweep or study file."""
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.+-]*", name):
        raise GanforgeError(f"{path} name must be a folder-safe name (letters, digits, . + -), got {name!r}")
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise GanforgeError(f"{path} description must be text, got {description!r}")
    if out is None:
        configured = raw.get("out")
        if configured is not None and (not isinstance(configured, str) or not configured):
            raise GanforgeError(f"{path} out must be a folder path, got {configured!r}")
        out = Path(configured).expanduser() if configured else Path("runs") / name
    return name, description, out
