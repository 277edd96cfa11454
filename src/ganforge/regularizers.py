"""Regularizers: gradient penalties and weight clipping, each a registered entry the update loops over.

An entry (``Regularizer``) says everything the training step needs to know about it:

- ``weight_key``: the TrainConfig field holding its weight (0 = off), e.g. ``gp`` for ``--gp 10``;
- ``player``: whose update it acts in, ``"d"`` or ``"g"``;
- what it is: a ``penalty`` (a weighted term added to that player's loss, differentiated in the same
  backward) or an ``after_step`` op (applied to that player's network after its optimizer step, as
  WGAN's weight clipping);
- ``interval_key``: the TrainConfig field holding its interval for lazy regularization (StyleGAN2):
  applied at every k-th training step only (in all of that step's D updates when ``n_critic`` > 1),
  with k times the weight, so its average pull is unchanged while costing 1/k of the double
  backwards. ``reg_every`` (default 1: every step) for the penalties here. A step that skips a
  penalty reports its ``penalty_<name>`` as 0, so the logged mean is the average term added per step.

Penalties see a ``PenaltyInputs``: the unwrapped D (uncompiled, so double backward works; in a
multi-process run its gradients land in the same ``.grad`` DDP averages) and G, the real and fake batches as D
judges them (augmented and packed), the labels, and the run's checkpointed auxiliary random stream.

Adding a regularizer: its function and one ``REGULARIZERS.register`` here, plus its weight's config key
(config.py); or, from another package, an entry in the ``ganforge.regularizers`` entry-point group whose
``weight_key`` names one of its own declared ``options`` (``--reg-opt NAME.weight=1``: the config's
``reg_options``). Declared options other than the weight reach ``penalty`` / ``after_step`` /
``from_gradient`` as keyword arguments (:meth:`Regularizer.bind`). ``Trainer.train_step`` needs no change.

One D forward for the loss and the penalty: a zero-centred penalty on D's real or fake input (R1, R2)
names that side in ``shares`` and gives ``from_gradient`` (the per-sample input gradient, weight) ->
weighted penalty. The trainer then makes that input require grad, runs the loss's forward on it and takes
the gradient of those very scores (:func:`input_gradients`), as StyleGAN2-ADA's and R3GAN's code do: two
D forwards per D step for the rpgan loss + R1 + R2 instead of four. ``penalty`` (its own forward) stays
the path for multi-process, compiled and fp16 runs, for the WGAN-GP interpolates, and the reference the
shared path is tested against.

Mixed precision: the separate path re-runs D on float32 inputs with autocast off (``_float32_grad``); their
input gradients are what overflows first in fp16 (docs/SPEED_AND_SCALE.md), so fp16 always takes it. In
bf16 (float32's range) the shared forward's gradient is taken of float32 scores with respect to float32
inputs and squared in float32.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import torch
from torch import nn

from ganforge.errors import GanforgeError, did_you_mean
from ganforge.options import OptionSpec, resolve_options
from ganforge.registry import Registry

PLAYERS = ("d", "g")

# `discriminator` is any callable taking (x, labels) -> (N,) scores.
Critic = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


@dataclass(frozen=True)
class PenaltyInputs:
    """What a penalty sees in one update of its player."""

    discriminator: Critic  # the unwrapped D
    generator: nn.Module  # the unwrapped G (for G's penalties)
    real: torch.Tensor  # D's input for the real batch (augmented, packed), detached
    fake: torch.Tensor  # D's input for the fake batch: detached in D's update, with G's graph in G's
    labels: torch.Tensor | None  # the batch's class labels (conditional runs), else None
    rng: torch.Generator  # draw any random numbers here: the stream is checkpointed, so resume is exact
    share: tuple[int, int] = (0, 1)  # (rank, world size): draw for the global batch, keep this slice


PenaltyFn = Callable[[PenaltyInputs, float], torch.Tensor]  # (inputs, weight) -> weighted penalty
GradientPenaltyFn = Callable[[torch.Tensor, float], torch.Tensor]  # (input gradient (N, -1), weight) -> penalty
SIDES = ("real", "fake")
StepOp = Callable[[nn.Module, float], None]  # (the player's network, weight) -> None, in place


@dataclass(frozen=True)
class Regularizer:
    name: str
    description: str
    weight_key: str
    player: str
    penalty: PenaltyFn | None = None
    after_step: StepOp | None = None
    interval_key: str | None = None  # None: every step
    shares: str | None = None  # "real" / "fake": computable from the loss forward's gradient on that input
    from_gradient: GradientPenaltyFn | None = None  # that computation
    options: tuple[OptionSpec, ...] = ()  # its parameters; one of them may be its weight (weight_key)

    def __post_init__(self) -> None:
        if (self.shares is None) != (self.from_gradient is None) or self.shares not in (None, *SIDES):
            raise ValueError(f"regularizer '{self.name}': shares ('real' or 'fake') and from_gradient go together")
        if (self.penalty is None) == (self.after_step is None):
            raise ValueError(f"regularizer '{self.name}' needs exactly one of penalty or after_step")
        if self.player not in PLAYERS:
            raise ValueError(f"regularizer '{self.name}' acts on player 'd' or 'g', not {self.player!r}")

    @property
    def kind(self) -> str:
        return "penalty" if self.penalty is not None else "after-step"

    @property
    def weight_is_option(self) -> bool:
        """Whether the weight is one of its declared options (a plugin's) rather than a TrainConfig key."""
        return self.weight_key in {spec.name for spec in self.options}

    def settings(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Its declared options: each default, overridden by ``given`` (checked and converted)."""
        values = {spec.name: spec.default for spec in self.options}
        values.update(resolve_options(f"regularizer {self.name}", self.options, given))
        return values

    def bind(self, given: Mapping[str, Any]) -> Regularizer:
        """This entry with its options (all but the weight) passed to its functions as keyword arguments."""
        values = self.settings(given)
        values.pop(self.weight_key, None)
        if not values:
            return self

        def bound(fn: Any) -> Any:
            return None if fn is None else partial(fn, **values)

        return replace(self, penalty=bound(self.penalty), after_step=bound(self.after_step),
                       from_gradient=bound(self.from_gradient))


@dataclass(frozen=True)
class ActiveRegularizer:
    """A registered regularizer with the weight and interval one run gives it."""

    entry: Regularizer
    weight: float
    interval: int

    def due(self, step: int) -> bool:
        return step % self.interval == 0

    @property
    def step_weight(self) -> float:
        """Lazy regularization: k times the weight at every k-th step."""
        return self.weight * self.interval


def check_keys(entry: Regularizer, config: Any) -> None:
    """The entry reads its weight from a key of ``config`` (a TrainConfig, or a subclass with fields of its
    own) or one of its options, and its interval from a key of ``config``: a misnamed key is the plugin's
    bug, named in one line before anything trains."""
    options = [spec.name for spec in entry.options]
    if not entry.weight_is_option and not hasattr(config, entry.weight_key):
        declared = f"its options are {', '.join(options)}" if options else "it declares no options"
        raise GanforgeError(f"regularizer '{entry.name}' reads its weight from '{entry.weight_key}', which is neither "
                            f"a config key nor one of its options ({declared}); its Regularizer entry must declare "
                            f"OptionSpec('{entry.weight_key}', ...) or name a config key")
    if entry.interval_key is not None and not hasattr(config, entry.interval_key):
        raise GanforgeError(f"regularizer '{entry.name}' reads its interval from '{entry.interval_key}', which is "
                            f"not a config key{did_you_mean(entry.interval_key, list(vars(config)))}; fix its "
                            "Regularizer entry's interval_key")


def active_regularizers(config: Any, scheduled: Container[str] = ()) -> list[ActiveRegularizer]:
    """The registered regularizers ``config`` turns on (a non-zero weight, or a weight in ``scheduled``),
    in registration order, each with the options ``config.reg_options`` gives it."""
    active = []
    for _, entry in REGULARIZERS.items():
        check_keys(entry, config)
        given = config.reg_options.get(entry.name, {})
        weight = float(entry.settings(given)[entry.weight_key] if entry.weight_is_option
                       else getattr(config, entry.weight_key))
        if weight or entry.weight_key in scheduled:
            interval = int(getattr(config, entry.interval_key)) if entry.interval_key else 1
            active.append(ActiveRegularizer(entry.bind(given), weight, interval))
    return active


def with_weights(active: list[ActiveRegularizer], weights: Mapping[str, float]) -> list[ActiveRegularizer]:
    """``active`` with the weights a schedule gives (keyed by weight key) for this step."""
    return [replace(reg, weight=weights[reg.entry.weight_key]) if reg.entry.weight_key in weights else reg
            for reg in active]


def penalties_of(active: list[ActiveRegularizer], player: str) -> list[ActiveRegularizer]:
    return [reg for reg in active if reg.entry.player == player and reg.entry.penalty is not None]


def shared_sides(active: list[ActiveRegularizer], player: str, step: int) -> tuple[str, ...]:
    """The inputs ("real", "fake") whose loss forward gives a penalty of ``player`` due at ``step``."""
    wanted = {reg.entry.shares for reg in penalties_of(active, player) if reg.due(step)}
    return tuple(side for side in SIDES if side in wanted)


def input_gradients(scores: Mapping[str, torch.Tensor], inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """d(sum of each side's scores)/d(its input), per sample and flattened, in float32, in one backward
    through D's graph, kept (``create_graph``) so the penalties built on it train D."""
    sides = list(inputs)
    grads = torch.autograd.grad([scores[side].float().sum() for side in sides], [inputs[side] for side in sides],
                                create_graph=True)
    return {side: grad.float().reshape(len(grad), -1) for side, grad in zip(sides, grads, strict=True)}


def penalty_terms(active: list[ActiveRegularizer], player: str, inputs: PenaltyInputs, step: int,
                  gradients: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Each of ``player``'s weighted penalties at training step ``step``, by name (float32; 0 when not due).

    A penalty whose side is in ``gradients`` (the loss forward's input gradients) is computed from them;
    the others run D again on their own inputs.
    """
    terms = {}
    for reg in penalties_of(active, player):
        entry = reg.entry
        if not reg.due(step):
            terms[entry.name] = inputs.real.new_zeros((), dtype=torch.float32)
        elif gradients is not None and entry.shares is not None and entry.shares in gradients \
                and entry.from_gradient is not None:
            terms[entry.name] = entry.from_gradient(gradients[entry.shares], reg.step_weight)
        else:
            assert entry.penalty is not None
            terms[entry.name] = entry.penalty(inputs, reg.step_weight)
    return terms


def apply_after_step(active: list[ActiveRegularizer], player: str, network: nn.Module, step: int) -> None:
    """``player``'s after-step ops due at ``step``, on its (unwrapped) network, after its optimizer step."""
    for reg in active:
        # weight 0 (a schedule's end) is off, as for the flag: clip at 0 would zero D
        if reg.entry.player == player and reg.entry.after_step is not None and reg.due(step) and reg.weight:
            reg.entry.after_step(network, reg.weight)


# -- the regularizers -----------------------------------------------------------------------------

def _float32_grad(discriminator: Critic, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """d(sum of scores)/dx per sample, flattened, computed in float32 with autocast off.

    Half precision underflows the small input gradients these penalties square, so the penalty path
    always runs in float32 even when the rest of the step is autocast.
    """
    x = x.detach().float().requires_grad_(True)
    with torch.autocast(device_type=x.device.type, enabled=False):
        scores = discriminator(x, labels).float()
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad.reshape(len(grad), -1)


def gradient_penalty(discriminator: Critic, real: torch.Tensor, fake: torch.Tensor, weight: float,
                     labels: torch.Tensor | None = None, *, generator: torch.Generator | None = None,
                     share: tuple[int, int] = (0, 1)) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): ``weight * E[(||grad D(x_hat)|| - 1)^2]``.

    ``x_hat`` is a uniform random interpolate between each real and fake sample (one mixing factor per
    sample, drawn from ``generator`` so a resumed run draws the same ones). ``share=(index, count)``:
    ``real`` is slice ``index`` of ``count`` equal slices of a global batch (multi-process training); the
    factors are drawn for the global batch and sliced, so every process draws what one process would.
    """
    index, count = share
    shape = (len(real) * count,) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, generator=generator, device=real.device, dtype=torch.float32)
    alpha = alpha[index * len(real):(index + 1) * len(real)]
    mixed = alpha * real.detach().float() + (1 - alpha) * fake.detach().float()
    grad = _float32_grad(discriminator, mixed, labels)
    return weight * (grad.norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(discriminator: Critic, real: torch.Tensor, weight: float,
               labels: torch.Tensor | None = None) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): ``weight / 2 * E[||grad D(x)||^2]`` on real data only.

    R2 is the same penalty on the fakes (``r2_penalty``); R3GAN uses both.
    """
    return squared_gradient_penalty(_float32_grad(discriminator, real, labels), weight)


def squared_gradient_penalty(grad: torch.Tensor, weight: float) -> torch.Tensor:
    """``weight / 2 * E[||grad||^2]`` from per-sample input gradients (N, -1): R1's and R2's formula."""
    return 0.5 * weight * grad.float().pow(2).sum(dim=1).mean()


def r2_penalty(discriminator: Critic, fake: torch.Tensor, weight: float,
               labels: torch.Tensor | None = None) -> torch.Tensor:
    """R2 (Mescheder et al. 2018; R3GAN, Huang et al. 2024): ``weight / 2 * E[||grad D(G(z))||^2]``."""
    return r1_penalty(discriminator, fake, weight, labels)


@torch.no_grad()
def clip_weights_(discriminator: nn.Module, limit: float) -> None:
    """WGAN weight clipping: clamp every parameter of D to [-limit, limit], in place."""
    for parameter in discriminator.parameters():
        parameter.clamp_(-limit, limit)


REGULARIZERS: Registry[Regularizer] = Registry("regularizer", plugin_group="ganforge.regularizers")
# Registration order is the order penalties are summed (and random numbers drawn) in D's update.
REGULARIZERS.register("gp", Regularizer(
    "gp", "WGAN-GP gradient penalty on real/fake interpolates (Gulrajani et al. 2017; paper: 10)",
    weight_key="gp", player="d", interval_key="reg_every",
    penalty=lambda x, weight: gradient_penalty(x.discriminator, x.real, x.fake, weight, x.labels,
                                               generator=x.rng, share=x.share),
))
REGULARIZERS.register("r1", Regularizer(
    "r1", "R1 penalty on real data (Mescheder et al. 2018)",
    weight_key="r1", player="d", interval_key="reg_every",
    penalty=lambda x, weight: r1_penalty(x.discriminator, x.real, weight, x.labels),
    shares="real", from_gradient=squared_gradient_penalty,
))
REGULARIZERS.register("r2", Regularizer(
    "r2", "R2 penalty on generated data (R3GAN: with R1 and the rpgan loss)",
    weight_key="r2", player="d", interval_key="reg_every",
    penalty=lambda x, weight: r2_penalty(x.discriminator, x.fake, weight, x.labels),
    shares="fake", from_gradient=squared_gradient_penalty,
))
REGULARIZERS.register("clip", Regularizer(
    "clip", "WGAN weight clipping: D's parameters clamped to [-clip, clip] after each D step",
    weight_key="clip", player="d", after_step=clip_weights_,
))
