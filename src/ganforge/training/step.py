"""The training-step contract: what one update of G and D receives and returns.

Every run's update is a *training step*: a callable ``step(ctx: StepContext) -> dict[str, scalar]``.
ganforge's own update (``training.update.gan_update``: the loss, regularizers, n_critic, augmentation...)
is one such step; a user's (``ganforge.train(..., train_step=my_step)`` or ``--train-step module:name``) is
another, and both run through the same ``Trainer.train_step``, which keeps everything around the update:
the scheduled hyperparameters (set before the step), the EMA generator (updated after it), the step
count, checkpoints, logging, sample grids and evaluation.

The step's randomness comes from ``ctx.rng`` (its own seeded stream), ``ctx.noise()`` (the run's latent
stream) and ``ctx.next_batch()`` (the data feed): all three are in every checkpoint, so a resumed run
draws what an uninterrupted one does. A step object with ``state_dict()``/``load_state_dict(state)`` has
that state checkpointed too.

The run records the step's importable name (``module:qualname``) as the ``train_step`` config key, so a
resume with another step is refused like any other changed key, and one by name (the CLI) imports it.
"""

from __future__ import annotations

import importlib
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from ganforge.config import TrainConfig
from ganforge.errors import GanforgeError

if TYPE_CHECKING:  # the Trainer imports this module
    from ganforge.training.update import Trainer

STEP_SEED_OFFSET = 5  # ctx.rng's seed is config.seed + 5 (+1..+4: latents, grid, augmentations, EMA statistics)

Scalar = float | int | torch.Tensor


@dataclass
class StepContext:
    """What a training step gets: the networks and optimizers to update, this step's real batch, the
    step number and the run's seeded random streams.

    ``generator``/``discriminator`` are the plain modules (train mode); ``generator_ema`` is the moving
    average ganforge updates after the step (None without ``ema``/``ema_kimg``): read it, don't train it.
    ``real`` is the batch in [-1, 1] on ``device``; ``labels`` its class labels (int64); ``cond`` is what
    G and D take as their ``labels`` argument: the labels in a conditional run, else None. ``step`` counts
    the steps finished before this one. ``trainer`` is the Trainer itself, for ganforge's own building
    blocks (``d_input``: augmentation and packing, ``regularizers``, ``loss``, ``precision``).
    """

    trainer: Trainer
    generator: nn.Module
    discriminator: nn.Module
    generator_ema: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    real: torch.Tensor
    labels: torch.Tensor
    cond: torch.Tensor | None
    step: int
    rng: torch.Generator
    device: torch.device
    config: TrainConfig

    def noise(self, num: int | None = None) -> torch.Tensor:
        """Latents ``(num, z_dim)`` from the run's latent stream (``num``: the batch size, the default)."""
        if num is None:
            return self.trainer.noise()
        return torch.randn(num, self.config.z_dim, generator=self.trainer.noise_rng, device=self.device)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Another real batch and its labels (for several D updates per step), from the same feed."""
        return self.trainer.next_real()


class TrainStep(Protocol):
    """A training step: updates the networks in ``ctx`` and returns the scalars to log by name."""

    def __call__(self, ctx: StepContext) -> Mapping[str, Scalar]: ...


def step_name(step: Callable[..., Any]) -> str:
    """``module:qualname`` of a function or class (of an object's class, for a callable instance):
    the name the run folder records and ``resolve_step`` imports."""
    target = step if isinstance(step, type) or hasattr(step, "__qualname__") else type(step)
    module = getattr(target, "__module__", None) or "__main__"
    return f"{module}:{getattr(target, '__qualname__', type(step).__qualname__)}"


def resolve_step(name: str) -> TrainStep:
    """The step a ``train_step`` name names: ``module:qualname`` imported; a class is instantiated
    without arguments. One line when it cannot be imported, saying how to pass the step instead."""
    module_name, _, qualname = name.partition(":")
    hint = ("pass the step itself: ganforge.train(..., train_step=your_step), or make it importable as "
            "module:function")
    if not module_name or not qualname:
        raise GanforgeError(f"train_step '{name}' is not an importable name (module:function); {hint}")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise GanforgeError(f"this run's training step '{name}' cannot be imported ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}); {hint}") from None
    try:
        step = target() if isinstance(target, type) else target
    except TypeError as exc:  # a class whose constructor needs arguments
        raise GanforgeError(f"train_step '{name}' cannot be built without arguments ({exc}); {hint}") from None
    if not callable(step):
        raise GanforgeError(f"train_step '{name}' is a {type(step).__name__}, not a callable; {hint}")
    return step


def _as_scalar(value: Any) -> torch.Tensor | None:
    """One number as a detached 0-d tensor: a one-element real tensor, a float or int (NumPy's too)."""
    if isinstance(value, torch.Tensor):
        return value.detach().reshape(()) if value.numel() == 1 and not value.is_complex() else None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return torch.tensor(float(value))


def checked_scalars(values: Any, name: str, step: int, finite: bool) -> dict[str, torch.Tensor]:
    """A step's returned scalars as detached tensors; anything else is one line naming the key and the step.

    ``finite``: also refuse NaN/inf (reading each value: one host sync). ganforge's own update skips that
    read, so a diverged run is logged as it always was, without a sync per step.
    """
    where = f"the training step {name} returned"
    if not isinstance(values, Mapping):
        raise GanforgeError(f"{where} a {type(values).__name__} at step {step + 1}; return a dict of "
                            "scalars by name, e.g. {'loss_d': loss_d.detach(), 'loss_g': loss_g.detach()}")
    out: dict[str, torch.Tensor] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise GanforgeError(f"{where} the key {key!r} at step {step + 1}; name each scalar with a string")
        tensor = _as_scalar(value)
        if tensor is None:
            shape = f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else \
                f"a {type(value).__name__}"
            raise GanforgeError(f"{where} {shape} for '{key}' at step {step + 1}; return one number per key "
                                "(a float or a one-element tensor, e.g. loss.detach())")
        if finite and not math.isfinite(float(tensor)):
            raise GanforgeError(f"{where} {key} = {float(tensor)} at step {step + 1}; the run stopped before "
                                "that step was saved (the last checkpoint is intact): lower the learning rate "
                                "or fix the step, then resume")
        out[key] = tensor
    return out
