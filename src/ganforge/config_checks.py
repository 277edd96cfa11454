"""The checks of a TrainConfig that need no loaded data: ranges, choices and registered names read from
the fields' metadata (:func:`ganforge.config.option`), then the options that contradict each other.

:func:`ganforge.config_build.build_config` runs them on every config it makes, so `train`, sweeps, studies and
the Python API refuse the same inputs with the same one-line messages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from ganforge.component_options import resolved_options
from ganforge.config import TrainConfig, config_fields, flag, registry_for
from ganforge.data import IMAGE, dataset_kind, split_spec
from ganforge.errors import GanforgeError, did_you_mean
from ganforge.metrics.specs import resolve_metrics
from ganforge.models.base import check_width
from ganforge.training.ada import parse_groups
from ganforge.training.loggers import logger_names


def check_bounds(name: str, value: Any, facts: Mapping[str, Any]) -> None:
    """The field's declared range; the message says what range, and what 0 means where it means off."""
    if value is None or isinstance(value, (bool, str, tuple, dict)):
        return
    low, above, high = facts.get("minimum"), facts.get("above"), facts.get("maximum")
    whole = isinstance(value, int)
    inside = math.isfinite(value) and (low is None or value >= low) and (above is None or value > above) \
        and (high is None or value <= high)
    if inside:
        return
    if above == 0 or (low == 1 and whole):
        wanted = "a positive whole number" if whole else "a positive number"
    elif low == 0 and facts.get("off"):
        wanted = "0 (off) or a positive whole number" if whole else "a number >= 0 (0 = off)"
    else:
        wanted = f"{'a whole number' if whole else 'a number'} in [{low}, {high}]"
        high = None  # said already
    limit = f" up to {high}" if high is not None else ""
    raise GanforgeError(f"{flag(name)} must be {wanted}{limit}, got {value}")


def check_name(kind: str, value: str) -> None:
    """A value that must name a registered entry; unknown names get the closest valid one suggested."""
    entries = registry_for(kind)
    if value not in entries:
        names = list(entries)
        raise GanforgeError(f"unknown {kind} '{value}'{did_you_mean(value, names)}; choose one of: "
                            f"{', '.join(names)}")


def validate_config(config: TrainConfig) -> None:
    """Every check that needs no loaded data: ranges, choices and registered names, read from the fields'
    metadata, then the combinations; a misspelt name fails here, before any dataset is read."""
    for name, spec in config_fields().items():
        value = getattr(config, name)
        check_bounds(name, value, spec.metadata)
        allowed = spec.metadata.get("choices")
        if allowed and value not in allowed:
            raise GanforgeError(
                f"{name} must be one of {', '.join(allowed)}, got '{value}'{did_you_mean(str(value), allowed)}")
    for beta in config.betas:
        if not 0.0 <= beta < 1.0:
            raise GanforgeError(f"betas must each be in [0, 1), got {config.betas}")
    if not 0.0 <= config.ema < 1.0:
        raise GanforgeError(f"ema must be a per-step decay in [0, 1) such as 0.999 (0 = off), got {config.ema}")
    validate_names(config)
    resolved_options(vars(config))  # each component's options as its registry entry declares them
    validate_loggers(config.log)
    if config.eval_every:
        validate_eval_metrics(config.eval_metrics, config.data)
    validate_combination(config)


def validate_names(config: TrainConfig) -> None:
    """Model, loss and preset must be registered; the dataset name and its argument must parse."""
    for kind in ("model", "loss"):
        check_name(kind, getattr(config, kind))
    if config.preset is not None:
        check_name("preset", config.preset)
    split_spec(config.data)
    validate_resolution(config)


def validate_resolution(config: TrainConfig) -> None:
    """--resolution must be one the family builds (its registry entry says which) and --width within its
    bound: checked before the dataset is loaded, since loading resizes every image to the resolution."""
    if dataset_kind(config.data) != IMAGE:
        return
    family = registry_for("model").get(config.model)
    check_width(SimpleNamespace(family=family.name, width=config.width), family.max_width)
    if config.resolution is None:
        return
    if config.resolution not in (*family.resolutions, *family.configured_resolutions):
        sizes = " or ".join(f"{r}x{r}" for r in family.resolutions)
        flags = " or ".join(f"--resolution {r}" for r in family.resolutions)
        raise GanforgeError(f"{family.name} builds {sizes} images, not {config.resolution}x{config.resolution}; "
                            f"pass {flags}")


def validate_loggers(log: str) -> None:
    """--log names registered loggers only."""
    logger_names(log)


def validate_eval_metrics(metrics: str, data: str) -> None:
    """Unknown metric names, or metrics that do not score this kind of data, fail now, not after an hour
    of training; ``auto`` is whatever the metric registry picks for the data."""
    if metrics == "auto":
        return
    resolve_metrics(metrics, dataset_kind(data), option="--eval-metrics", data=data)


def validate_combination(config: TrainConfig) -> None:
    """Options that contradict each other; each is a one-line error naming both sides."""
    if config.clip and config.gp:
        raise GanforgeError(f"--clip {config.clip:g} and --gp {config.gp:g} are two ways to keep the critic "
                            "Lipschitz; use one (WGAN: --clip, WGAN-GP: --gp)")
    if config.ema and config.ema_kimg:
        raise GanforgeError(f"--ema {config.ema:g} and --ema-kimg {config.ema_kimg:g} both set G's moving "
                            "average; use one (--ema: decay per step, --ema-kimg: half-life in kimg)")
    validate_schedules_and_augment(config)
    if config.updates == "simultaneous" and config.n_critic != 1:
        raise GanforgeError(f"--updates simultaneous takes one D step per G step, but --n-critic is "
                            f"{config.n_critic}; use --n-critic 1 or --updates alternating")
    if config.inception_weights and "inception" in config.extractor_weights:
        raise GanforgeError("--inception-weights and --extractor-weights inception=... both name the Inception "
                            "weights; give one")
    if config.batch_size % config.pack:
        raise GanforgeError(f"--pack {config.pack} must divide --batch-size {config.batch_size}: D judges "
                            "groups of pack samples")
    if config.pack > 1 and config.conditional:
        raise GanforgeError("--pack and --conditional cannot be combined: a packed D input mixes samples of "
                            "different classes; drop one")


def validate_schedules_and_augment(config: TrainConfig) -> None:
    """A schedule must drive something the run has; ADA's options need --augment ada."""
    scheduled = config.schedule
    if config.lr_decay != "none" and {"lr_g", "lr_d"} & scheduled.keys():
        raise GanforgeError(f"--lr-decay {config.lr_decay} and --schedule lr_g/lr_d both schedule the learning "
                            "rates; use one (--lr-decay linear is lr_g=linear:LR:0,lr_d=linear:LR:0)")
    if "beta2" in scheduled and config.optimizer != "adam":
        raise GanforgeError(f"--schedule beta2 needs --optimizer adam, not {config.optimizer}")
    if "ema_kimg" in scheduled and config.ema:
        raise GanforgeError(f"--schedule ema_kimg and --ema {config.ema:g} both set G's moving average; use one")
    if config.augment != "ada":
        used = [key for key, value in (("augment_p", config.augment_p or "augment_p" in scheduled),)
                if value]
        if used:
            raise GanforgeError(f"--{flag(used[0])} is ADA's probability; add --augment ada")
    parse_groups(config.ada_groups)
