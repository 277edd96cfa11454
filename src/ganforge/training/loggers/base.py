"""The Logger protocol every run output implements, and the one fan-out the run reports through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import numpy as np

from ganforge.config import TrainConfig
from ganforge.runfolder import RunFolder

# How a run ended, as ``close`` is told: "killed" is a stop on Ctrl-C / SIGTERM, "failed" any other error.
RunEnd = Literal["finished", "failed", "killed"]
RUN_ENDS: tuple[str, ...] = get_args(RunEnd)

# The names the run gives its images (log_image's `name`).
SAMPLES = "samples"  # the fixed-latent sample grid at a --sample-every step
FINAL_SAMPLES = "final_samples"  # the same grid after the last step


class Logger(Protocol):
    """Where a run's logged values go. The run calls, on rank 0 only:

    - ``log_config(config)`` once per launch, with the resolved config (``TrainConfig.to_dict()`` plus
      provenance keys);
    - ``log_scalars(step, values)`` at every logged row: one dict of floats per row, keys as they come
      (``loss_d``, ``loss_g``, ``d_real``, ``d_fake``, ``penalty``, ``lr_g``, ``lr_d``, ``epoch``, ``seconds``,
      ``images_per_s``, and whatever callbacks such as the metrics report: ``fid``, ...). A key may
      first appear at any row;
    - ``log_image(step, name, image)``: ``image`` is (H, W, C) uint8; ``name`` is ``SAMPLES`` or
      ``FINAL_SAMPLES``;
    - ``log_artifact(path)`` for each finished file of the run folder (generator, GIF, curves, config);
    - ``close(status)`` once, however the run ends (``RunEnd``: finished, failed or killed).
    """

    def log_config(self, config: Mapping[str, Any]) -> None: ...

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None: ...

    def log_image(self, step: int, name: str, image: np.ndarray) -> None: ...

    def log_artifact(self, path: Path) -> None: ...

    def close(self, status: RunEnd = "finished") -> None: ...


class LoggerBase:
    """A Logger that ignores everything: subclass it and implement what your backend records."""

    def log_config(self, config: Mapping[str, Any]) -> None:
        return None

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        return None

    def log_image(self, step: int, name: str, image: np.ndarray) -> None:
        return None

    def log_artifact(self, path: Path) -> None:
        return None

    def close(self, status: RunEnd = "finished") -> None:
        return None


@dataclass(frozen=True)
class LoggerContext:
    """What a logger factory gets to build its logger for one launch of a run."""

    paths: RunFolder
    config: TrainConfig
    resume_step: int | None  # the step a resumed run continues from; None for a new run
    # The checkpoint holds steps no row has reported yet: a row at resume_step is then the run's final,
    # partial one (logged after that checkpoint), and the resumed run reports those steps again.
    resume_window_open: bool = False

    @property
    def start_step(self) -> int:
        return self.resume_step or 0


class Loggers:
    """Fans every call out to each logger in turn; ``close`` closes them all even if one fails."""

    def __init__(self, loggers: Sequence[Logger]) -> None:
        self.loggers = list(loggers)

    def log_config(self, config: Mapping[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_config(config)

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        for logger in self.loggers:
            logger.log_scalars(step, values)

    def log_image(self, step: int, name: str, image: np.ndarray) -> None:
        for logger in self.loggers:
            logger.log_image(step, name, image)

    def log_artifact(self, path: Path) -> None:
        for logger in self.loggers:
            logger.log_artifact(path)

    def close(self, status: RunEnd = "finished") -> None:
        errors = []
        for logger in self.loggers:
            try:
                logger.close(status)
            except Exception as exc:  # close the others first; a backend may raise anything
                errors.append(exc)
        if errors:
            raise errors[0]
