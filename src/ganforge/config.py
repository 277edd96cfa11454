"""Training configuration: one typed dataclass, strict validation, YAML in and out.

Precedence: dataclass defaults < ``--config FILE`` < command-line flags. Unknown keys are errors with
the closest valid key suggested, so a typo never silently trains the wrong thing.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from ganforge.errors import GanforgeError, did_you_mean
from ganforge.fileio import atomic_write_text

# Keys written into config.yaml for provenance; accepted (and ignored) when a config is read back.
META_KEYS = ("ganforge_version", "torch_version")


@dataclass
class TrainConfig:
    """Everything that defines a training run. Field names are the YAML keys; flags use dashes."""

    model: str = "dcgan"
    data: str = "digits5k"
    loss: str = "bce"
    steps: int = 1500
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    optimizer: str = "adam"
    z_dim: int = 100
    width: int = 64
    resolution: int | None = None  # None: the dataset's native resolution
    n_critic: int = 1
    seed: int = 0
    run_dir: str | None = None  # None: runs/<model>-<data>-<timestamp>
    cache_dir: str | None = None  # None: $GANFORGE_CACHE or ~/.cache/ganforge
    sample_every: int = 250
    checkpoint_every: int = 500
    log_every: int = 10
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out


POSITIVE_INTS = ("steps", "batch_size", "z_dim", "width", "n_critic", "sample_every", "checkpoint_every",
                 "log_every")
POSITIVE_FLOATS = ("lr_g", "lr_d")
CHOICES = {"device": ("auto", "cpu", "cuda"), "optimizer": ("adam", "rmsprop")}


def field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]


def normalize_keys(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Accept ``batch-size`` and ``batch_size``; reject unknown keys with a suggestion."""
    known = field_names()
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        if name in META_KEYS:
            continue
        if name not in known:
            raise GanforgeError(
                f"unknown config key '{key}' in {source}{did_you_mean(name, known)}; "
                f"valid keys: {', '.join(known)}"
            )
        out[name] = value
    return out


def read_yaml_config(path: Path) -> dict[str, Any]:
    """Read a YAML config file into normalized keys (no defaults applied)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise GanforgeError(f"cannot read config file {path}: {exc.strerror}; check the path") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise GanforgeError(f"config file {path} is not valid YAML{where}; fix the syntax") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise GanforgeError(f"config file {path} must be a mapping of key: value, got {type(raw).__name__}")
    return normalize_keys(raw, str(path))


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Convert a YAML/flag value to the field's type, with a one-line error when it does not fit."""
    if name == "betas":
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        try:
            beta1, beta2 = (float(v) for v in value)
        except (TypeError, ValueError):
            raise GanforgeError(f"betas must be two numbers like '0.5,0.999', got {value!r}") from None
        return (beta1, beta2)
    if value is None:
        return None
    expected = type(default) if default is not None else None
    if name in ("resolution",):
        expected = int
    if name in ("run_dir", "cache_dir"):
        return str(value)
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise GanforgeError(f"{name} must be true or false, got {value!r}")
    if expected is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise GanforgeError(f"{name} must be a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise GanforgeError(f"{name} must be a whole number, got {value!r}") from None
    if expected is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise GanforgeError(f"{name} must be a number, got {value!r}") from None
    if expected is str:
        if not isinstance(value, str):
            raise GanforgeError(f"{name} must be text, got {value!r}")
        return value
    return value


def build_config(*layers: dict[str, Any]) -> TrainConfig:
    """Apply key/value layers (later wins) over the defaults, then validate."""
    defaults = TrainConfig()
    values: dict[str, Any] = {}
    for layer in layers:
        for name, value in normalize_keys(layer, "the options").items():
            values[name] = _coerce(name, value, getattr(defaults, name))
    config = dataclasses.replace(defaults, **values)
    validate(config)
    return config


def validate(config: TrainConfig) -> None:
    """Checks that need no dataset or model; those live next to the dataset and model code."""
    for name in POSITIVE_INTS:
        value = getattr(config, name)
        if value <= 0:
            raise GanforgeError(f"{name.replace('_', '-')} must be a positive whole number, got {value}")
    for name in POSITIVE_FLOATS:
        value = getattr(config, name)
        if not (value > 0 and math.isfinite(value)):
            raise GanforgeError(f"{name.replace('_', '-')} must be a positive number, got {value}")
    for beta in config.betas:
        if not 0.0 <= beta < 1.0:
            raise GanforgeError(f"betas must each be in [0, 1), got {config.betas}")
    for name, allowed in CHOICES.items():
        value = getattr(config, name)
        if value not in allowed:
            raise GanforgeError(
                f"{name} must be one of {', '.join(allowed)}, got '{value}'{did_you_mean(value, allowed)}"
            )
    if config.resolution is not None and config.resolution <= 0:
        raise GanforgeError(f"resolution must be a positive whole number, got {config.resolution}")


def dump_config(config: TrainConfig, path: Path, meta: dict[str, str]) -> None:
    """Write the fully resolved config (every default spelled out) plus provenance."""
    data = config.to_dict()
    data.update(meta)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
