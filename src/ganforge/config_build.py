"""From layers to a validated :class:`~ganforge.config.TrainConfig`: the preset a layer names, then YAML
files and flags (later wins) over the dataclass defaults; each value converted to its field's type with a
one-line error when it does not fit; component options resolved; every data-free check run.

Resuming reads the run's own config.yaml and refuses changes to anything but the resumable keys.
Kept apart from ``ganforge.config`` (the dataclass and its field facts, which training reads) because
checking a config reads the registries of models, losses, metrics and loggers, which sit above it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ganforge.component_options import layer_options, merge_options, resolved_options, shorthand_options
from ganforge.config import (
    ALTERNATIVE_SPELLINGS,
    META_KEYS,
    TrainConfig,
    field_names,
    field_types,
    optional_type,
    read_yaml,
    resumable_keys,
)
from ganforge.config_checks import validate_config
from ganforge.data import POINTS, dataset_kind
from ganforge.errors import GanforgeError, did_you_mean
from ganforge.metrics.extractors import parse_weights
from ganforge.presets import PRESETS, preset_values
from ganforge.runfolder import CONFIG_FILE
from ganforge.training.schedules import parse_schedule


def normalize_keys(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Accept ``batch-size`` and ``batch_size``; reject unknown keys with a suggestion. The model options
    declared with ``flag`` (``pack``, ``spectral_norm``, ...) are keys too (``component_options``)."""
    known = field_names() + list(shorthand_options())
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
    raw = read_yaml(path, "config file")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise GanforgeError(f"config file {path} must be a mapping of key: value, got {type(raw).__name__}")
    return normalize_keys(raw, str(path))


def _coerce(name: str, value: Any, kind: Any) -> Any:
    """Convert a YAML/flag value to the field's type, with a one-line error when it does not fit."""
    if name == "schedule":
        return parse_schedule(value)
    if name == "extractor_weights":
        return weight_files(value)
    if name == "betas":
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        try:
            beta1, beta2 = (float(v) for v in value)
        except (TypeError, ValueError):
            raise GanforgeError(f"betas must be two numbers like '0.5,0.999', got {value!r}") from None
        return (beta1, beta2)
    base, optional = optional_type(kind)
    if value is None:
        if optional:
            return None
        raise GanforgeError(f"{name} needs a value, got null; give one or leave the key out for the default")
    if base is bool:
        if isinstance(value, bool):
            return value
        raise GanforgeError(f"{name} must be true or false, got {value!r}")
    if base is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise GanforgeError(f"{name} must be a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):
            raise GanforgeError(f"{name} must be a whole number, got {value!r}") from None
    if base is float:
        if isinstance(value, bool):
            raise GanforgeError(f"{name} must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise GanforgeError(f"{name} must be a number, got {value!r}") from None
    # text: a number is accepted where YAML reads a folder name such as 2024 as one; anything else
    # (a list, a mapping, true) is an error rather than a folder named after its repr
    if isinstance(value, str):
        return value
    if optional and isinstance(value, (int, float)) and not isinstance(value, bool) and "dir" in name:
        return str(value)
    raise GanforgeError(f"{name} must be text, got {value!r}")


def weight_files(value: Any) -> dict[str, str]:
    """``extractor_weights`` from flags (``['dinov2=PATH', ...]``), a ``NAME=PATH,...`` text or a YAML mapping
    -> {extractor: path}; an unknown extractor or a bad item is one line."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        value = [f"{name}={path}" for name, path in value.items()]
    elif isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise GanforgeError(f"extractor_weights must be NAME=PATH items or a mapping of name: path, got {value!r}")
    return {name: str(path) for name, path in parse_weights(value).items()}


def preset_layer(*layers: dict[str, Any]) -> dict[str, Any]:
    """The values of the preset the layers name (the last layer naming one wins), or nothing.

    Returned as the lowest layer, so a config file and flags override what the preset sets.
    """
    name = None
    for layer in layers:
        for key, value in layer.items():
            if str(key).replace("-", "_") == "preset":
                name = value
    if name is None:
        return {}
    if not isinstance(name, str) or name not in PRESETS:
        raise GanforgeError(f"unknown preset '{name}'{did_you_mean(str(name), PRESETS)}; "
                            f"choose one of: {', '.join(PRESETS)}")
    return {**preset_values(name), "preset": name}


def build_config(*layers: dict[str, Any]) -> TrainConfig:
    """Apply the named preset, then key/value layers (later wins) over the defaults, then validate."""
    types = field_types()
    values: dict[str, Any] = {}
    for layer in (preset_layer(*layers), *layers):
        normalized, options = layer_options(normalize_keys(layer, "the options"))
        for name, value in normalized.items():
            values[name] = _coerce(name, value, types[name])
        merge_options(values, options)
    values.update(resolved_options(values))
    if "ema_kimg" in values.get("schedule", {}) and "ema" not in values:
        values["ema"] = 0.0  # a scheduled half-life is the spelling chosen
    for spellings in ALTERNATIVE_SPELLINGS:
        if sum(key in values for key in spellings) == 1:  # the spelling the user chose replaces the default's
            values.update({key: 0.0 for key in spellings if key not in values})
    config = dataclasses.replace(TrainConfig(), **values)
    validate(config)
    return config


def resumed_config(*layers: dict[str, Any]) -> TrainConfig:
    """The config of a run being continued: its config.yaml under ``layers`` (which name its run_dir).

    Only :func:`resumable_keys` may differ from what the run was started with; anything else would make
    the continuation a different run, so it is refused with the keys named.
    """
    run_dir = next((layer[key] for layer in reversed(layers) for key in ("run_dir", "run-dir") if layer.get(key)),
                   None)
    if not run_dir:
        raise GanforgeError("--resume needs --run-dir pointing at the run to continue")
    saved = read_yaml_config(Path(run_dir).expanduser() / CONFIG_FILE)
    pinned = {"run_dir": run_dir}
    saved_config = build_config(saved, pinned).to_dict()
    requested = build_config(saved, *layers, pinned)
    allowed = resumable_keys()
    changed = [key for key, value in requested.to_dict().items() if value != saved_config[key] and key not in allowed]
    if changed:
        raise GanforgeError(f"cannot change {', '.join(changed)} when resuming; only "
                            f"{', '.join(sorted(allowed))} may differ from {run_dir}/{CONFIG_FILE}")
    return requested


def validate(config: TrainConfig) -> None:
    """Every check that needs no loaded data (``ganforge.config_checks``): ranges, choices and registered
    names from the fields' metadata, then the combinations; a misspelt name fails before any data is read."""
    validate_config(config)


def data_kind(data: str) -> str:
    """IMAGE or POINTS: what the --data value's source declares; decides which models train on it and
    which metrics score it. Nothing is loaded (:func:`ganforge.data.dataset_kind`)."""
    return dataset_kind(data)


def is_toy2d(data: str) -> bool:
    """Whether a --data value is 2-D point data (the toy2d mixtures)."""
    return dataset_kind(data) == POINTS
