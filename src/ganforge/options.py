"""The options a component (model family, loss, regularizer) declares in its registry entry.

An entry lists :class:`OptionSpec` s: name, type, default, range or choices, help. Everything that reads a
component's options reads them from there: the config (``model_options``, ``loss_options``,
``reg_options``), the flags (``--model-opt KEY=VALUE``, ...), YAML files, presets, validation, ``--help``.
A value is converted to the declared type once, by :meth:`OptionSpec.coerce`; a bad one is one
GanforgeError line naming the component, the option and what it accepts. This module imports no torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ganforge.errors import GanforgeError, did_you_mean

KINDS = ("bool", "int", "float", "str", "ints")  # ints: a list of whole numbers (YAML list or "8,16,32")


@dataclass(frozen=True)
class OptionSpec:
    """One declared option. ``default`` None means "absent": the component decides (e.g. a family's paper
    default for spectral norm). ``minimum``/``maximum`` are inclusive bounds of a number (of each number
    of an ``ints`` list); ``choices`` the valid texts. ``flag``: also a top-level config key and a
    ``--NAME`` flag of its own (the built-in model options keep the spellings configs already use)."""

    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    flag: bool = False
    metavar: str | None = None  # the value's name in --help (default: the option's name in capitals)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option '{self.name}': kind must be one of {', '.join(KINDS)}, not {self.kind!r}")

    @property
    def allowed(self) -> str:
        """What the option accepts, as error messages and ``--help`` say it: ``a whole number in [1, 64]``."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        what = {"int": "a whole number", "float": "a number", "str": "text",
                "ints": "whole numbers separated by commas"}[self.kind]
        if self.minimum is not None and self.maximum is not None:
            return f"{what} in [{self.minimum:g}, {self.maximum:g}]"
        if self.minimum is not None:
            return f"{what} >= {self.minimum:g}"
        if self.maximum is not None:
            return f"{what} <= {self.maximum:g}"
        return what

    @property
    def usage(self) -> str:
        """``pack (a whole number in [1, 64])``: how an error lists the options a component has."""
        return f"{self.name} ({self.allowed})"

    def describe(self) -> str:
        """``pack (a whole number in [1, 64], default 1): help``, one line of ``--help``."""
        default = "" if self.default is None else f"; default {self.default}"
        return f"{self.name} ({self.allowed}{default}): {self.help}"

    def coerce(self, value: Any, component: str) -> Any:
        """``value`` (from YAML, or text from a flag) as the declared type, or one error line."""
        if value is None:
            return None
        try:
            converted = _convert(self.kind, value)
        except (TypeError, ValueError, OverflowError):
            converted = None
        if converted is None or not self._inside(converted):
            raise GanforgeError(f"{component} option {self.name} must be {self.allowed}, got {value!r}"
                                f"{did_you_mean(str(value), self.choices) if self.choices else ''}")
        return converted

    def _inside(self, value: Any) -> bool:
        if self.choices:
            return value in self.choices
        numbers = value if self.kind == "ints" else [value] if self.kind in ("int", "float") else []
        if self.kind == "ints" and not numbers:
            return False
        return all(math.isfinite(n) and (self.minimum is None or n >= self.minimum)
                   and (self.maximum is None or n <= self.maximum) for n in numbers)


def _convert(kind: str, value: Any) -> Any:
    """``value`` as ``kind``; None where it has another type (a flag's text is read as YAML would read it)."""
    if kind == "bool":  # a flag's text: true or false only (YAML 1.1's yes/on stay errors)
        value = {"true": True, "false": False}.get(value.lower(), value) if isinstance(value, str) else value
        return value if isinstance(value, bool) else None
    if isinstance(value, str) and kind in ("int", "float"):
        value = yaml.safe_load(value) if value.strip() else value
    if kind == "str":
        return value if isinstance(value, str) else None
    if isinstance(value, bool):
        return None
    if kind == "int":
        return int(value) if isinstance(value, int) or (isinstance(value, float) and value.is_integer()) else None
    if kind == "float":
        return float(value) if isinstance(value, (int, float)) else None
    parts: Sequence[Any] = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(parts, (list, tuple)):
        return None
    numbers = [_convert("int", int(p) if isinstance(p, str) else p) for p in parts]
    return None if any(n is None for n in numbers) else numbers


def option_names(options: Iterable[OptionSpec]) -> list[str]:
    return [spec.name for spec in options]


def resolve_options(component: str, options: Sequence[OptionSpec], given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` converted to the declared types; an option the component does not declare is an error
    naming the ones it does. Only the options given are returned (an absent one keeps its default)."""
    if not isinstance(given, Mapping):
        raise GanforgeError(f"{component} options must be a mapping of name: value, got {given!r}")
    declared = {spec.name: spec for spec in options}
    resolved = {}
    for name, value in given.items():
        if name not in declared:
            valid = ", ".join(spec.usage for spec in options) or "none"
            raise GanforgeError(f"{component} has no option '{name}'{did_you_mean(str(name), declared)}; "
                                f"its options: {valid}")
        resolved[name] = declared[name].coerce(value, component)
    return resolved


def without_defaults(options: Sequence[OptionSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that differ from their declared default (what a spec or a component needs to be told)."""
    defaults = {spec.name: spec.default for spec in options}
    return {name: value for name, value in values.items() if value != defaults.get(name)}


def parse_assignments(items: Iterable[str] | str, flag: str, form: str = "KEY=VALUE",
                      example: str = "pack=2") -> dict[str, str]:
    """``--model-opt pack=2 --model-opt arch=pacgan`` -> {"pack": "2", "arch": "pacgan"} (values stay text
    until the component's declaration converts them)."""
    out = {}
    for item in [items] if isinstance(items, str) else items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise GanforgeError(f"{flag} takes {form} (e.g. {flag} {example}), got {item!r}")
        out[key.strip()] = value.strip()
    return out
