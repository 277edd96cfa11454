"""Draws of a random sampler that depend on the study, not on the process that makes them.

An Optuna sampler built with ``seed=0`` starts the same random stream in every process: each launch of a
study (after Ctrl-C or a killed job) and every worker on the same file would replay the same suggestions.
:class:`TrialSeededSampler` wraps such a sampler (TPE, random, CMA-ES) so that a new trial's
configuration is a function of the seed, the trial's number and what the study already holds:

- before each new trial it builds the sampler afresh, seeded from (seed, trial number, attempt), and
  draws the trial's whole configuration through :meth:`SearchSpace.choose`;
- a configuration equal to another trial's parameters is drawn again: ``OWN_DRAWS`` times by the
  sampler, then uniformly at random (TPE on a few discrete keys picks the same best candidate whatever
  its seed), up to ``MAX_DRAWS`` draws in all (a space with fewer configurations than trials has to
  repeat one);
- the trial's ``suggest_*`` calls then return the drawn values.

A study run in one piece is thus reproduced by the same seed; a retry of a failed trial, which already
holds its parameters, keeps them. Without a seed every attempt draws from fresh entropy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from ganforge.tune.queue import repeated_trial
from ganforge.tune.space import SearchSpace

MAX_DRAWS = 32  # attempts at a configuration no other trial holds
OWN_DRAWS = 8  # of them by the study's sampler; then uniform draws (TPE's pick barely moves with its seed)
FIXED_PARAMS = "fixed_params"  # Optuna's system attribute of an enqueued trial


def trial_seed(seed: int | None, number: int, attempt: int) -> int | None:
    """The inner sampler's seed for one attempt at trial ``number``; None stays None (fresh entropy)."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed % 2**64, number, attempt]).generate_state(1)[0])


def single_value(distribution: BaseDistribution) -> Any:
    """The value of a distribution with one value, as the trial itself stores it (it asks no sampler)."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[0]
    assert isinstance(distribution, (FloatDistribution, IntDistribution))
    return distribution.low


class DrawingTrial:
    """What :meth:`SearchSpace.choose` asks a trial for, answered by a sampler without touching the
    study's trial: its draws collect in ``params``."""

    def __init__(self, sampler: BaseSampler, study: Study, trial: FrozenTrial) -> None:
        self.sampler, self.study = sampler, study
        self.frozen = copy.deepcopy(trial)
        self.relative_space = sampler.infer_relative_search_space(study, self.frozen)
        self.relative = sampler.sample_relative(study, self.frozen, self.relative_space)

    @property
    def params(self) -> dict[str, Any]:
        return self.frozen.params

    def draw(self, name: str, distribution: BaseDistribution) -> Any:
        if distribution.single():
            value = single_value(distribution)
        elif name in self.relative and self.relative_space.get(name) == distribution:
            value = self.relative[name]
        else:
            value = self.sampler.sample_independent(self.study, self.frozen, name, distribution)
        self.frozen.params = {**self.frozen.params, name: value}
        self.frozen.distributions = {**self.frozen.distributions, name: distribution}
        return value

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False,
                      step: float | None = None) -> Any:
        return self.draw(name, FloatDistribution(low, high, log=log, step=step))

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1) -> Any:
        return self.draw(name, IntDistribution(low, high, log=log, step=step))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self.draw(name, CategoricalDistribution(list(choices)))


class TrialSeededSampler(BaseSampler):
    """``build(seed)`` -> an Optuna sampler; each new trial is drawn by one seeded for that trial."""

    def __init__(self, build: Callable[[int | None], BaseSampler], seed: int | None, space: SearchSpace) -> None:
        self.build, self.seed, self.space = build, seed, space
        self.inner = build(seed)  # the sampler of the latest draw (after_trial goes to it)
        self.drawn: dict[int, dict[str, Any]] = {}  # trial number -> its configuration

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if trial.params or FIXED_PARAMS in trial.system_attrs:  # a retry or an enqueued trial: given values
            return
        others = study.get_trials(deepcopy=False)
        for attempt in range(MAX_DRAWS):
            seed = trial_seed(self.seed, trial.number, attempt)
            if attempt < OWN_DRAWS:
                sampler = self.inner = self.build(seed)
            else:
                sampler = RandomSampler(seed=seed)
            sampler.before_trial(study, trial)
            drawing = DrawingTrial(sampler, study, trial)
            self.space.choose(drawing)
            if repeated_trial(others, trial.number, drawing.params) is None:
                break
        self.drawn[trial.number] = drawing.params

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}  # everything was drawn in before_trial

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        drawn = self.drawn.get(trial.number, {})
        if param_name in drawn:
            return drawn[param_name]
        # a retry of a trial stopped before all its keys were sampled: the rest is drawn as usual
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.drawn.pop(trial.number, None)
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()
