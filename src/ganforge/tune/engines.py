"""The samplers and pruners a study file can name: ``SAMPLERS`` and ``PRUNERS``, each entry an Optuna class.

A study file writes ``sampler: tpe`` or ``sampler: {name: tpe, seed: 0, n_startup_trials: 5}`` (the same for
``pruner:``); the options are that Optuna class's keyword arguments, checked by name here and by Optuna
for their values. Each entry also says where it applies (``check``): grid search needs every key to be a
list of values; CMA-ES samples float and int keys, unconditionally. A sampler that ``draws`` at random is
wrapped by :class:`ganforge.tune.draws.TrialSeededSampler`, so a seed reproduces a study without replaying
itself in every launch and worker.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ganforge.errors import GanforgeError, did_you_mean
from ganforge.registry import Registry
from ganforge.tune.draws import TrialSeededSampler
from ganforge.tune.space import SearchSpace

NAME_KEY = "name"


def _no_check(space: SearchSpace, where: str) -> None:
    return None


def _grid_check(space: SearchSpace, where: str) -> None:
    if space.grid() is None:
        ranges = [p.key for p in space.params if p.grid_values() is None or p.when]
        raise GanforgeError(f"{where}: grid search needs every search key to be an unconditional list of values; "
                            f"{', '.join(ranges)} {'is' if len(ranges) == 1 else 'are'} not (give choices, or use "
                            "sampler: tpe)")


def _cmaes_check(space: SearchSpace, where: str) -> None:
    others = [p.key for p in space.params if not p.numeric or p.when]
    if others:
        raise GanforgeError(f"{where}: CMA-ES samples float and int keys that every trial has; {', '.join(others)} "
                            "would be sampled at random (use sampler: tpe, or make them ranges)")


def _grid_arguments(space: SearchSpace) -> dict[str, Any]:
    return {"search_space": space.grid()}


@dataclass(frozen=True)
class Engine:
    """An Optuna sampler or pruner class, by module and name so that naming one imports nothing."""

    description: str
    module: str
    cls: str
    check: Callable[[SearchSpace, str], None] = _no_check
    arguments: Callable[[SearchSpace], dict[str, Any]] = field(default=lambda space: {})  # set by the space
    defaults: dict[str, Any] = field(default_factory=dict)
    draws: bool = False  # a sampler drawing at random: each trial drawn anew, seeded per trial (tune.draws)

    def load(self) -> type:
        return getattr(importlib.import_module(self.module), self.cls)

    def options(self) -> tuple[str, ...]:
        """The keyword arguments a study file may set (those the space sets are not among them)."""
        fixed = set(self.arguments(SearchSpace(())))
        return tuple(name for name in inspect.signature(self.load()).parameters if name not in fixed)


SAMPLERS: Registry[Engine] = Registry("sampler")
SAMPLERS.register("tpe", Engine("Tree-structured Parzen Estimator, Optuna's default (constant_liar on, so "
                                "parallel workers spread out)", "optuna.samplers", "TPESampler",
                                defaults={"constant_liar": True}, draws=True))
SAMPLERS.register("random", Engine("independent uniform sampling", "optuna.samplers", "RandomSampler", draws=True))
SAMPLERS.register("grid", Engine("every combination of the keys' values", "optuna.samplers", "GridSampler",
                                 check=_grid_check, arguments=_grid_arguments))
SAMPLERS.register("cmaes", Engine("CMA-ES on float and int keys (needs the cmaes package)", "optuna.samplers",
                                  "CmaEsSampler", check=_cmaes_check, draws=True))

PRUNERS: Registry[Engine] = Registry("pruner")
PRUNERS.register("median", Engine("stop a trial whose best value so far is worse than the median of earlier "
                                  "trials at the same step", "optuna.pruners", "MedianPruner"))
PRUNERS.register("successive_halving", Engine("asynchronous successive halving", "optuna.pruners",
                                              "SuccessiveHalvingPruner"))
PRUNERS.register("hyperband", Engine("Hyperband: successive halving over several budgets", "optuna.pruners",
                                     "HyperbandPruner"))
PRUNERS.register("none", Engine("never stop a trial early", "optuna.pruners", "NopPruner"))


@dataclass(frozen=True)
class EngineChoice:
    """What a study file chose: an entry of SAMPLERS or PRUNERS, with its options."""

    registry: Registry[Engine]
    name: str
    options: dict[str, Any]

    @property
    def entry(self) -> Engine:
        return self.registry.get(self.name)

    def build(self, space: SearchSpace) -> Any:
        """The Optuna object. A drawing sampler is wrapped so that each trial's draw depends on the seed, the
        trial's number and the study (one seed in every launch and worker would replay one stream)."""
        entry = self.entry
        options = {**entry.defaults, **self.options}

        def make(seed: Any = options.get("seed")) -> Any:
            try:
                return entry.load()(**entry.arguments(space), **{**options, **({"seed": seed} if entry.draws else {})})
            except (TypeError, ValueError, ImportError) as exc:
                raise GanforgeError(f"{self.registry.kind} {self.name} with {self.options}: {exc}") from None

        if not entry.draws:
            return make()

        return TrialSeededSampler(make, options.get("seed"), space)

    def describe(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.name}({options})" if options else self.name


def parse_engine(raw: Any, registry: Registry[Engine], default: str, space: SearchSpace, where: str) -> EngineChoice:
    """``tpe`` or ``{name: tpe, seed: 0}`` -> an EngineChoice checked against the registry and the space."""
    if raw is None:
        raw = default
    if isinstance(raw, str):
        raw = {NAME_KEY: raw}
    if not isinstance(raw, dict) or not isinstance(raw.get(NAME_KEY), str):
        raise GanforgeError(f"{where} must be a name ({', '.join(registry.names())}) or a mapping with name: "
                            f"and options, got {raw!r}")
    options = {str(k): v for k, v in raw.items() if k != NAME_KEY}
    try:
        entry = registry.get(raw[NAME_KEY])
    except GanforgeError as exc:
        raise GanforgeError(f"{where}: {exc}") from None
    allowed = entry.options()
    for key in options:
        if key not in allowed:
            raise GanforgeError(f"unknown option '{key}' of {registry.kind} {raw[NAME_KEY]} in {where}"
                                f"{did_you_mean(key, allowed)}; valid options: {', '.join(allowed) or 'none'}")
    entry.check(space, where)
    return EngineChoice(registry, raw[NAME_KEY], options)
