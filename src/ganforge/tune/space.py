"""A study's search space: training config keys that Optuna samples, each a float, int or choice.

In the study file (every key strictly checked)::

    search:
      lr_g: {type: float, low: 1.0e-4, high: 1.0e-2, log: true, also: [lr_d]}   # lr_d gets the same value
      n_critic: {type: int, low: 1, high: 5}                                     # step: 1 unless given
      loss: [bce, hinge]                                                         # a list = a choice
      r1: {type: float, low: 0.01, high: 1.0, log: true, when: {loss: bce}}      # sampled only for bce

``when`` makes a key conditional on keys listed above it (one value or a list of values); a trial whose
conditions fail leaves the key at its ``settings`` (or default) value. Each sampled value is checked
against the training config's own rules up front, so a type mistake fails before the first trial.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ganforge.config import base_type, field_types
from ganforge.config_build import build_config, normalize_keys
from ganforge.errors import GanforgeError, did_you_mean
from ganforge.registry import Registry
from ganforge.tune.schema import check_keys

COMMON_KEYS = ("type", "when", "also")
# Keys the study itself decides: where a trial's run lives and which seeds it trains.
RESERVED_KEYS = {"run_dir": "each trial's runs live in the study folder; set out: instead",
                 "seed": "use the study's seeds: key (a count or a list), which every trial runs"}
Choice = str | int | float | bool | None


@dataclass(frozen=True)
class Param:
    """One sampled key; ``when`` = ((key, allowed values), ...); ``also`` = keys given the same value."""

    key: str
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    also: tuple[str, ...] = ()

    def active(self, chosen: Mapping[str, Any]) -> bool:
        return all(key in chosen and chosen[key] in values for key, values in self.when)

    def suggest(self, trial: Any) -> Any:
        raise NotImplementedError

    def candidates(self) -> tuple[Any, ...]:
        """Values that bound what can be sampled: checked against TrainConfig before any trial."""
        raise NotImplementedError

    def grid_values(self) -> list[Choice] | None:
        """The values a grid search runs through; None when the key is a range."""
        return None

    def values_text(self) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        """'lr_g: a number in [0.0001, 0.003] (log scale), also lr_d, when loss is bce'."""
        text = f"{self.key}: {self.values_text()}"
        if self.also:
            text += f", also {', '.join(self.also)}"
        for key, values in self.when:
            text += f", when {key} is {' or '.join(map(str, values))}"
        return text

    @property
    def numeric(self) -> bool:
        return False


@dataclass(frozen=True)
class RangeParam(Param):
    """A float or int in [low, high]; ``step`` None (floats only) = continuous."""

    low: float = 0.0
    high: float = 1.0
    log: bool = False
    step: float | None = None
    whole: bool = False  # an int key: suggest_int

    def suggest(self, trial: Any) -> Any:
        if self.whole:
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)

    def candidates(self) -> tuple[Any, ...]:
        return (self.low, self.high)

    def values_text(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        scale = " (log scale)" if self.log else (f" (step {self.step:g})" if self.step and self.step != 1 else "")
        return f"{kind} in [{self.low:g}, {self.high:g}]{scale}"

    @property
    def numeric(self) -> bool:
        return True


@dataclass(frozen=True)
class ChoiceParam(Param):
    choices: tuple[Choice, ...] = ()

    def suggest(self, trial: Any) -> Any:
        return trial.suggest_categorical(self.key, list(self.choices))

    def candidates(self) -> tuple[Any, ...]:
        return self.choices

    def grid_values(self) -> list[Choice] | None:
        return list(self.choices)

    def values_text(self) -> str:
        return f"one of {', '.join(map(str, self.choices))}"


@dataclass(frozen=True)
class ParamType:
    """A ``type:`` of the study file: its own keys and how they become a :class:`Param`."""

    description: str
    keys: tuple[str, ...]
    parse: Callable[[str, dict[str, Any], dict[str, Any], str], Param]  # (key, raw, common fields, where)


def _number(raw: dict[str, Any], key: str, where: str, whole: bool, default: Any = ...) -> Any:
    value = raw.get(key, default)
    if value is ...:
        raise GanforgeError(f"{where} needs {key}: (the {'lowest' if key == 'low' else 'highest'} value)")
    if value is None:
        return None
    ok = isinstance(value, int) if whole else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        kind = "a whole number" if whole else "a number"
        raise GanforgeError(f"{where}.{key} must be {kind}, got {value!r}")
    return int(value) if whole else float(value)


def _flag(raw: dict[str, Any], key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise GanforgeError(f"{where}.{key} must be true or false, got {value!r}")
    return value


def _range(raw: dict[str, Any], where: str, whole: bool) -> dict[str, Any]:
    low, high = _number(raw, "low", where, whole), _number(raw, "high", where, whole)
    log = _flag(raw, "log", where)
    step = _number(raw, "step", where, whole, default=1 if whole else None)
    if low > high:
        raise GanforgeError(f"{where}: low {low!r} is above high {high!r}; swap them")
    if log and low <= 0:
        raise GanforgeError(f"{where}: a log scale needs low > 0, got {low!r}")
    if log and step not in (None, 1):
        raise GanforgeError(f"{where}: step cannot be combined with log: true; drop one of them")
    if step is not None and step <= 0:
        raise GanforgeError(f"{where}.step must be positive, got {step!r}")
    return {"low": low, "high": high, "log": log, "step": step}


def _parse_float(key: str, raw: dict[str, Any], common: dict[str, Any], where: str) -> Param:
    return RangeParam(key, **common, **_range(raw, where, whole=False))


def _parse_int(key: str, raw: dict[str, Any], common: dict[str, Any], where: str) -> Param:
    return RangeParam(key, **common, **_range(raw, where, whole=True), whole=True)


def _parse_choice(key: str, raw: dict[str, Any], common: dict[str, Any], where: str) -> Param:
    choices = raw.get("choices")
    if not isinstance(choices, list) or not choices:
        raise GanforgeError(f"{where}.choices must be a non-empty list of values, got {choices!r}")
    for value in choices:
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise GanforgeError(f"{where}: choice {value!r} is not a single value; write lists such as betas "
                                "as text ('0.5,0.999')")
    if len({repr(v) for v in choices}) != len(choices):
        raise GanforgeError(f"{where}.choices lists a value more than once; list each value once")
    return ChoiceParam(key, **common, choices=tuple(choices))


PARAM_TYPES: Registry[ParamType] = Registry("search type")
PARAM_TYPES.register("float", ParamType("a number in [low, high], linear or log scale, optionally stepped",
                                        ("low", "high", "log", "step"), _parse_float))
PARAM_TYPES.register("int", ParamType("a whole number in [low, high], linear or log scale, step 1 unless given",
                                      ("low", "high", "log", "step"), _parse_int))
PARAM_TYPES.register("categorical", ParamType("one of a list of values (a plain list is the short form)",
                                              ("choices",), _parse_choice))


@dataclass(frozen=True)
class SearchSpace:
    params: tuple[Param, ...]

    def choose(self, trial: Any) -> dict[str, Any]:
        """The trial's parameters (what Optuna stores), conditions applied in file order."""
        chosen: dict[str, Any] = {}
        for param in self.params:
            if param.active(chosen):
                chosen[param.key] = param.suggest(trial)
        return chosen

    def sample(self, trial: Any) -> dict[str, Any]:
        """The trial's values as config keys, ``also`` keys filled in."""
        return self.config_values(self.choose(trial))

    def config_values(self, params: dict[str, Any]) -> dict[str, Any]:
        """A trial's parameters as config keys: each value also under its ``also`` keys."""
        return {**params, **{extra: params[p.key] for p in self.params if p.key in params for extra in p.also}}

    def grid(self) -> dict[str, list[Choice]] | None:
        """Every key's values for a grid search; None unless every key is an unconditional choice."""
        values = {param.key: param.grid_values() for param in self.params}
        if any(v is None for v in values.values()) or any(p.when for p in self.params):
            return None
        return values  # type: ignore[return-value]

    def keys(self) -> tuple[str, ...]:
        return tuple(param.key for param in self.params)


def _conditions(raw: Any, earlier: dict[str, Param], where: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        raise GanforgeError(f"{where}.when must be a mapping of an earlier key to its value(s), e.g. "
                            f"{{loss: hinge}}; got {raw!r}")
    conditions = []
    for key, values in normalize_keys(raw, f"{where}.when").items():
        if key not in earlier:
            raise GanforgeError(f"{where}.when names {key}, which is not a search key listed above it"
                                f"{did_you_mean(key, earlier)}")
        allowed = tuple(values) if isinstance(values, list) else (values,)
        possible = earlier[key].grid_values()
        missing = [v for v in allowed if possible is not None and v not in possible]
        if missing:
            raise GanforgeError(f"{where}.when: {key} never takes {missing[0]!r}; its choices: "
                                f"{', '.join(map(repr, possible or []))}")
        conditions.append((key, allowed))
    return tuple(conditions)


def _also(raw: Any, key: str, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    keys = raw if isinstance(raw, list) else [raw]
    normalized = tuple(normalize_keys(dict.fromkeys(keys), f"{where}.also"))
    for extra in normalized:
        if extra in RESERVED_KEYS or extra == key:
            raise GanforgeError(f"{where}.also cannot name {extra}")
    return normalized


def check_against_config(param: Param, settings: dict[str, Any], where: str) -> None:
    """Each bound or choice, set on the study's settings, must make a valid training config; a float range
    over a whole-number key would sample values the config refuses."""
    types = field_types()
    for key in (param.key, *param.also):
        if isinstance(param, RangeParam) and not param.whole and base_type(types.get(key)) is int:
            raise GanforgeError(f"{where}: {key} must be a whole number; use type: int")
    for value in param.candidates():
        layer = {key: value for key in (param.key, *param.also)}
        try:
            build_config(settings, layer)
        except GanforgeError as exc:
            raise GanforgeError(f"{where}: {param.key}={value!r} is not a valid setting ({exc})") from None


def parse_space(raw: Any, settings: dict[str, Any], where: str) -> SearchSpace:
    if not isinstance(raw, dict) or not raw:
        raise GanforgeError(f"{where} must map training config keys to what to try, e.g. "
                            "{lr_g: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}}")
    params: dict[str, Param] = {}
    for key, entry in normalize_keys(raw, where).items():
        place = f"{where}.{key}"
        if key in RESERVED_KEYS:
            raise GanforgeError(f"'{key}' cannot be searched: {RESERVED_KEYS[key]}")
        if isinstance(entry, list):
            entry = {"type": "categorical", "choices": entry}
        if not isinstance(entry, dict):
            raise GanforgeError(f"{place} must be a list of values or a mapping with type: "
                                f"({', '.join(PARAM_TYPES.names())}), got {entry!r}")
        type_name = entry.get("type")
        if not isinstance(type_name, str):
            raise GanforgeError(f"{place} needs type: one of {', '.join(PARAM_TYPES.names())}")
        try:
            kind = PARAM_TYPES.get(type_name)
        except GanforgeError as exc:
            raise GanforgeError(f"{place}: {exc}") from None
        check_keys(entry, COMMON_KEYS + kind.keys, place)
        common = {"when": _conditions(entry.get("when"), params, place), "also": _also(entry.get("also"), key, place)}
        param = kind.parse(key, entry, common, place)
        check_against_config(param, settings, place)
        params[key] = param
    taken = [extra for p in params.values() for extra in p.also if extra in params]
    if taken:
        raise GanforgeError(f"{where}: {taken[0]} is both searched and set by another key's also:; keep one")
    return SearchSpace(tuple(params.values()))
