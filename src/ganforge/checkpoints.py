"""Any checkpoint of a run is usable: a run folder plus ``--step N`` / ``--checkpoint best|last|PATH``.

The one place commands (``evaluate``, ``serve``, ``generate``, ``export``) turn that choice into a file;
:func:`ganforge.loader.load_generator` reads the generator out of it:

- neither flag: the run's ``generator.safetensors`` (the EMA copy when the run kept one), as before;
- ``--checkpoint last``: ``checkpoints/last.pt``; ``--checkpoint best``: the best evaluation's generator
  (``best/``, written by ``--eval-every``); ``--step N``: ``checkpoints/step_XXXXXXX.pt``;
- ``--checkpoint PATH``: a checkpoint ``.pt`` (or a generator folder / generator.json) anywhere.

Generator weights come out of a training checkpoint with ``torch.load(weights_only=True)``: no pickle
runs. The network is described by the checkpoint's own ``spec``; dataset, class names and kind come
from the run's generator.json when the checkpoint sits in its ``checkpoints/`` folder, else from the
checkpoint's config.
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganforge.errors import GanforgeError, user_path
from ganforge.models.base import ModelSpec
from ganforge.models.io import (
    SPEC_FILE,
    GeneratorInfo,
    generator_kind,
    read_generator_info,
)
from ganforge.runfolder import CHECKPOINT_SUFFIX, RunFolder, checkpoint_run
from ganforge.runlock import live_writer

NAMED = ("best", "last")  # --checkpoint values that are not paths


@dataclass(frozen=True)
class CheckpointChoice:
    """``--step`` / ``--checkpoint`` as given; both None means the run's saved generator."""

    step: int | None = None
    checkpoint: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CheckpointChoice:
        return cls(step=getattr(args, "step", None), checkpoint=getattr(args, "checkpoint", None))

    @property
    def is_default(self) -> bool:
        return self.step is None and self.checkpoint is None


def is_checkpoint_file(path: Path) -> bool:
    return path.suffix == CHECKPOINT_SUFFIX and path.is_file()


def run_folder_of(path: Path) -> Path:
    """The run folder a path belongs to: itself, the folder of a generator.json, or the run of a
    checkpoint inside ``RUN/checkpoints/``."""
    path = Path(path).expanduser()
    if path.is_file():
        return checkpoint_run(path) or path.parent
    return path


def _available_steps(run: Path) -> str:
    steps = [step for step, _ in RunFolder(run).step_checkpoints()]
    return ", ".join(str(s) for s in steps[-10:]) if steps else "none"


def resolve_checkpoint(run: Path | str, choice: CheckpointChoice = CheckpointChoice()) -> Path:
    """The file holding the chosen generator: a checkpoint ``.pt``, or a generator folder."""
    run = Path(run).expanduser()
    if choice.step is not None and choice.checkpoint is not None:
        raise GanforgeError("--step and --checkpoint both choose a checkpoint; pass one of them")
    if choice.is_default:
        return run
    if choice.step is not None:
        if choice.step < 0:
            raise GanforgeError(f"--step must be a whole number >= 0, got {choice.step}")
        path = RunFolder(run).step_checkpoint(choice.step)
        if not path.is_file():
            raise GanforgeError(f"{run} has no checkpoint of step {choice.step} (periodic checkpoints: "
                                f"{_available_steps(run)}); pick one of them, or --checkpoint last")
        return path
    name = str(choice.checkpoint)
    if name == "last":
        path = RunFolder(run).last_checkpoint
    elif name == "best":
        best = RunFolder(run).best
        path = best if RunFolder(best).generator_spec.is_file() else RunFolder(run).best_checkpoint
    else:
        path = Path(name).expanduser()
    if not path.exists():
        hint = ("the run was trained without --eval-every, so it has no best generator" if name == "best"
                else "check the path")
        raise GanforgeError(f"no checkpoint at {path}; {hint}")
    return path


READ_FIX = "pass a run folder or a checkpoints/*.pt file of one"


def read_checkpoint_state(path: Path, required: tuple[str, ...] = ("generator",), kind: str = "checkpoint",
                          fix: str = READ_FIX) -> dict[str, Any]:
    """The state dict in a checkpoint .pt, read with ``torch.load(weights_only=True)`` (no pickle code runs);
    one line naming ``fix`` for a corrupt or foreign file, or one without the ``required`` keys. Both the
    readers of a generator and ``train --resume`` (``kind`` "training checkpoint") read through here."""
    try:
        with user_path(path):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except GanforgeError:
        raise
    except Exception as exc:  # torch raises several unrelated types for corrupt or foreign files
        raise GanforgeError(f"{path} cannot be read as a ganforge {kind} ({type(exc).__name__}): it is corrupt "
                            f"or not a ganforge checkpoint; {fix}") from None
    missing = [key for key in required if not isinstance(state, dict) or key not in state]
    if missing:
        raise GanforgeError(f"{path} is a torch file but not a ganforge {kind} (no '{missing[0]}'); {fix}")
    if not isinstance(state.get("generator"), dict):
        raise GanforgeError(f"{path} is a torch file but not a ganforge {kind} (no generator weights); {fix}")
    return dict(state)


def checkpoint_info(path: Path, state: dict[str, Any]) -> GeneratorInfo:
    """What generator.json would say about the checkpoint's generator (with its own step and EMA flag)."""
    run_json = RunFolder(run_folder_of(path)).generator_spec
    saved = read_generator_info(run_json) if run_json.is_file() else None
    raw_config = state.get("config")
    config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
    if isinstance(state.get("spec"), dict):
        try:
            spec = ModelSpec.from_dict(dict(state["spec"]))
        except TypeError as exc:
            raise GanforgeError(f"{path} has a malformed 'spec' ({exc})") from None
    elif saved is not None:
        spec = saved.spec
    else:
        raise GanforgeError(f"{path} records no network spec and has no {SPEC_FILE} beside its run; keep it in "
                            "its run folder's checkpoints/")
    meta = dict(saved.meta) if saved is not None else {"dataset": config.get("data"), "config": config}
    meta.update(step=int(state.get("step", 0)), ema="generator_ema" in state, checkpoint=str(path))
    kind = saved.kind if saved is not None else generator_kind(spec, meta)
    return GeneratorInfo(spec=spec, meta={**meta, "kind": kind}, kind=kind)


def live_run_note(run: Path, step: object) -> str | None:
    """What a reader of a run that is still training should be told: which step it read; None when no
    process writes ``run`` now."""
    holder = live_writer(run)
    if holder is None:
        return None
    return (f"{run} is still training ({holder.describe()}); read its generator of step {step}, the newest "
            "saved so far (pass --step N or --checkpoint last for another, or wait for the run to finish)")


def warn_if_live(run: Path, info: GeneratorInfo) -> None:
    note = live_run_note(run, info.meta.get("step"))
    if note is not None:
        warnings.warn(note, stacklevel=2)
