"""Hyperparameter schedules: any numeric training hyperparameter as a pure function of the images seen.

A schedule is written ``KIND:START:END[:WARMUP_KIMG]`` (``constant:V`` for a constant), KIND one of
:data:`KINDS`; ``--schedule lr_g=cosine:2e-4:5e-5,r1=cosine:0.05:0.005`` on the command line, a mapping
under ``schedule:`` in YAML. Each runs over ``--schedule-kimg`` thousand images (0: the whole run,
``steps * batch_size``) and holds END after that. A warm-up rises linearly from 0 to START over its
first WARMUP_KIMG thousand images, and the decay then spans the rest (R3GAN's ``cosine_decay_with_warmup``).

Every value is recomputed from ``step * batch_size`` before each step, so no state is saved and a resumed
run (even one killed with SIGKILL) uses exactly the numbers an uninterrupted one does.

:data:`SCHEDULABLE` is the one home of what can be scheduled: its keys, what each means and its valid
range; every regularizer weight (``ganforge.regularizers.REGULARIZERS``) is schedulable too. This module
imports no torch, so the config can parse schedules cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ganforge.errors import GanforgeError, did_you_mean
from ganforge.regularizers import REGULARIZERS

KINDS = ("constant", "linear", "cosine")


@dataclass(frozen=True)
class Schedulable:
    """A hyperparameter a schedule may drive: what it is and the values it may take."""

    help: str
    above: float | None = None  # exclusive lower bound
    minimum: float | None = None  # inclusive bounds
    maximum: float | None = None
    below: float | None = None  # exclusive upper bound

    def check(self, key: str, value: float, spec: str) -> None:
        ok = ((self.above is None or value > self.above) and (self.minimum is None or value >= self.minimum)
              and (self.maximum is None or value <= self.maximum) and (self.below is None or value < self.below))
        if not ok:
            raise GanforgeError(f"schedule {key}={spec}: {value:g} is out of range for {key} "
                                f"({self.help}: {self.range_text()})")

    def range_text(self) -> str:
        low = f"> {self.above:g}" if self.above is not None else (
            f">= {self.minimum:g}" if self.minimum is not None else "")
        high = f"< {self.below:g}" if self.below is not None else (
            f"<= {self.maximum:g}" if self.maximum is not None else "")
        return " and ".join(part for part in (low, high) if part) or "any number"


# The keys besides the regularizer weights; each names the TrainConfig field it replaces, except beta2
# (the second of --betas).
SCHEDULABLE: dict[str, Schedulable] = {
    "lr_g": Schedulable("G's learning rate", minimum=0),  # 0 allowed: where a decay ends
    "lr_d": Schedulable("D's learning rate", minimum=0),
    "beta2": Schedulable("Adam's beta2", minimum=0, below=1),
    "ema_kimg": Schedulable("G's EMA half-life in kimg (0 = G itself)", minimum=0),
    "augment_p": Schedulable("the ADA augmentation probability (--augment ada)", minimum=0, maximum=1),
}
REGULARIZER_WEIGHT = Schedulable("a regularizer weight", minimum=0)


@dataclass(frozen=True)
class Schedule:
    """One key's schedule; ``value(images, span)`` is the value used by a step after ``images`` images."""

    kind: str
    start: float
    end: float
    warmup_kimg: float = 0.0

    def value(self, images: float, span: float) -> float:
        warmup = self.warmup_kimg * 1000.0
        if images < warmup:
            return self.start * (images / warmup)
        if self.kind == "constant":
            return self.start
        t = min(max((images - warmup) / max(span - warmup, 1.0), 0.0), 1.0)
        if self.kind == "linear":
            # start * (1 - t) exactly when end is 0: `--lr-decay linear`'s numbers, bit for bit
            return self.start * (1.0 - t) + self.end * t
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * t))

    def text(self) -> str:
        """The canonical spec string (what config.yaml records)."""
        parts = [self.kind, repr(self.start)] + ([] if self.kind == "constant" else [repr(self.end)])
        if self.warmup_kimg:
            parts += ([repr(self.end)] if self.kind == "constant" else []) + [repr(self.warmup_kimg)]
        return ":".join(parts)


def schedulable_keys() -> dict[str, Schedulable]:
    """Every key a schedule may name: :data:`SCHEDULABLE` plus each registered regularizer's weight that is a
    config key (a plugin's weight among its own options is not schedulable)."""
    keys = dict(SCHEDULABLE)
    for _, entry in REGULARIZERS.items():
        if not entry.weight_is_option:
            keys[entry.weight_key] = REGULARIZER_WEIGHT
    return keys


class SchedulableKeys:
    """The names :func:`schedulable_keys` gives, read when asked (a plugin's regularizer included); the
    config's registry of the ``schedule`` field (its --help lists them)."""

    def __iter__(self) -> Iterator[str]:
        return iter(schedulable_keys())

    def __contains__(self, key: object) -> bool:
        return key in schedulable_keys()


SCHEDULABLE_KEYS = SchedulableKeys()


def _number(key: str, spec: str, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise GanforgeError(f"schedule {key}={spec}: {what} '{text}' is not a number; write "
                            "KIND:START:END[:WARMUP_KIMG], e.g. cosine:2e-4:5e-5") from None
    if not math.isfinite(value):
        raise GanforgeError(f"schedule {key}={spec}: {what} must be a finite number, got {text}")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_spec(key: str, spec: Any) -> Schedule:
    """``KIND:START:END[:WARMUP_KIMG]`` (a bare number: that constant) -> Schedule, checked against ``key``."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        spec = f"constant:{spec}"
    if not isinstance(spec, str):
        raise GanforgeError(f"schedule {key} must be text like 'cosine:2e-4:5e-5', got {spec!r}")
    parts = [part.strip() for part in spec.split(":")]
    if len(parts) == 1 and _is_number(parts[0]):
        parts = ["constant", parts[0]]
    kind = parts[0]
    if kind not in KINDS:
        raise GanforgeError(f"schedule {key}={spec}: unknown kind '{kind}'{did_you_mean(kind, KINDS)}; "
                            f"choose one of: {', '.join(KINDS)}")
    needed = (2, 3, 4) if kind == "constant" else (3, 4)
    if len(parts) not in needed:
        form = "constant:VALUE" if kind == "constant" else f"{kind}:START:END[:WARMUP_KIMG]"
        raise GanforgeError(f"schedule {key}={spec}: write {form}")
    start = _number(key, spec, parts[1], "START")
    end = _number(key, spec, parts[2], "END") if len(parts) > 2 else start
    warmup = _number(key, spec, parts[3], "WARMUP_KIMG") if len(parts) > 3 else 0.0
    if warmup < 0:
        raise GanforgeError(f"schedule {key}={spec}: WARMUP_KIMG must be >= 0, got {warmup:g}")
    keys = schedulable_keys()
    if key not in keys:
        raise GanforgeError(f"cannot schedule '{key}'{did_you_mean(key, list(keys))}; schedulable keys: "
                            f"{', '.join(keys)}")
    for value in (start, end):
        keys[key].check(key, value, spec)
    return Schedule(kind, start, end if kind != "constant" else start, warmup)


def parse_schedule(value: Any) -> dict[str, str]:
    """The ``schedule`` config value (a ``key=spec,...`` string, a mapping or null) -> {key: canonical spec}."""
    if value is None or value == "" or value == "none":
        return {}
    if isinstance(value, str):
        pairs: dict[str, Any] = {}
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            key, sep, spec = item.partition("=")
            if not sep:
                raise GanforgeError(f"schedule entry '{item}' needs KEY=SPEC, e.g. lr_g=cosine:2e-4:5e-5")
            if key.strip() in pairs:
                raise GanforgeError(f"schedule names {key.strip()} twice; give each key one spec")
            pairs[key.strip()] = spec.strip()
        value = pairs
    if not isinstance(value, Mapping):
        raise GanforgeError(f"schedule must be a mapping of key: spec or 'key=spec,...', got {value!r}")
    return {str(key).replace("-", "_"): parse_spec(str(key).replace("-", "_"), spec).text()
            for key, spec in value.items()}


def span_images(schedule_kimg: float, steps: int, batch_size: int) -> float:
    """The images a schedule runs over: ``--schedule-kimg`` thousands, or the whole run when 0."""
    return schedule_kimg * 1000.0 if schedule_kimg else float(steps * batch_size)


class Schedules:
    """A run's schedules, ``--lr-decay linear`` included as lr_g/lr_d linear to 0 (unless scheduled)."""

    def __init__(self, config: Any) -> None:
        specs = dict(config.schedule)
        if config.lr_decay == "linear":
            for key in ("lr_g", "lr_d"):
                specs.setdefault(key, f"linear:{getattr(config, key)!r}:0.0")
        self.schedules = {key: parse_spec(key, spec) for key, spec in specs.items()}
        self.span = span_images(config.schedule_kimg, config.steps, config.batch_size)
        self.batch_size = config.batch_size

    def __contains__(self, key: object) -> bool:
        return key in self.schedules

    def values(self, step: int) -> dict[str, float]:
        """Every scheduled value for training step ``step`` (0-based), after ``step * batch_size`` images."""
        images = float(step * self.batch_size)
        return {key: schedule.value(images, self.span) for key, schedule in self.schedules.items()}
