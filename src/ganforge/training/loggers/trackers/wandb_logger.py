"""``--log wandb``: a run's config, scalars, sample grids and files as a Weights & Biases run.

W&B runs offline (``wandb sync`` uploads later) unless WANDB_MODE says otherwise or WANDB_API_KEY is set,
so nothing goes to the network unasked. The W&B files go to the run folder (``wandb/``), the project is
WANDB_PROJECT's or "ganforge", the W&B run is named after the run folder, and trackers.json records its
id, so a resumed training run logs on into the same W&B run. W&B prints nothing: its terminal messages
become Python warnings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy

from ganforge.errors import GanforgeError
from ganforge.training.loggers.base import RunEnd
from ganforge.training.loggers.trackers.common import (
    WarningsFromLog,
    checked_end,
    import_library,
    one_line,
    save_run,
    saved_run,
)

if TYPE_CHECKING:
    import wandb

TRACKER = "wandb"
DEFAULT_PROJECT = "ganforge"
ARTIFACT_TYPE = "run-output"
# W&B shows any non-zero exit code as a failed run; 130 is the shell's code for a stop by Ctrl-C.
EXIT_CODES: dict[str, int] = {"finished": 0, "failed": 1, "killed": 130}
# W&B's terminal messages in silent mode go to this logger, and from it into Python warnings.
TERMINAL = WarningsFromLog(f"{__name__}.terminal", "W&B", strip=r"^wandb: (WARNING |ERROR )?")


def wandb_mode() -> str:
    """WANDB_MODE when set, else online only with an API key in WANDB_API_KEY, else offline."""
    return os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")


def artifact_name(run_id: str, path: Path) -> str:
    """The W&B artifact of one run file: the run id and the file name, in the characters W&B allows."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{run_id}-{path.name}")


class WandbLogger:
    def __init__(self, run: wandb.Run) -> None:
        self.run = run
        self._closed = False

    def log_config(self, config: Mapping[str, Any]) -> None:
        self.run.config.update(config, allow_val_change=True)  # a resumed run may change --steps etc.

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log(dict(values), step=step)

    def log_image(self, step: int, name: str, picture: numpy.ndarray) -> None:
        import wandb

        self.run.log({name: wandb.Image(picture)}, step=step)

    def log_artifact(self, path: Path) -> None:
        """A file or folder as an artifact of its own, named after the W&B run and the file."""
        import wandb

        artifact = wandb.Artifact(artifact_name(self.run.id, path), type=ARTIFACT_TYPE)
        if path.is_dir():
            artifact.add_dir(str(path))
        else:
            artifact.add_file(str(path))
        self.run.log_artifact(artifact)

    def close(self, status: RunEnd = "finished") -> None:
        """Finish the W&B run with the exit code of ``status``; later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        self.run.finish(exit_code=EXIT_CODES[checked_end(status)])


def _quiet_settings() -> wandb.Settings:
    """Settings under which W&B prints nothing and captures no console output."""
    import wandb

    settings = wandb.Settings(silent=True, console="off")
    wandb.setup(settings)
    # After setup: creating W&B's process-wide state resets its terminal to print or drop messages.
    wandb.termsetup(settings, TERMINAL.logger)
    TERMINAL.attach()
    return settings


def make_wandb_logger(run_dir: Path, config: dict[str, Any], *, resume: bool) -> WandbLogger:
    """A logger into a new W&B run, or with ``resume`` into the one trackers.json records."""
    import_library("wandb")
    import wandb

    saved = saved_run(run_dir, TRACKER) if resume else None
    try:
        run = wandb.init(project=os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT, name=run_dir.name,
                         dir=str(run_dir), config=config, job_type="train",
                         mode=cast(Any, wandb_mode()),  # W&B checks the value: a bad one is caught below
                         id=saved["run_id"] if saved else None, resume="allow" if saved else None,
                         settings=_quiet_settings())
    except (wandb.Error, ValueError) as exc:  # bad WANDB_* settings are pydantic ValueErrors
        raise GanforgeError(f"W&B could not start a run (check the WANDB_* environment variables): "
                            f"{one_line(exc)}") from exc
    save_run(run_dir, TRACKER, {"run_id": run.id})
    return WandbLogger(run)
