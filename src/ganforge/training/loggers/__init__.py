"""Where a run's outputs go: loggers fed from one place, ``TrainingRun.report``.

A training step returns detached scalars; the run sums them on the device and, at every logged row
(``--log-every``, evaluation steps), hands one dict -- the window's means, the learning rates ``lr_g`` and
``lr_d``, epoch, seconds, images/s and the callbacks' values (``fid``, ...) -- to ``log_scalars`` of every
logger. Sample grids go to ``log_image``, the resolved config to ``log_config``, the finished files to
``log_artifact``. The protocol (``Logger`` in ``loggers.base``)::

    log_config(config: Mapping[str, Any]) -> None
    log_scalars(step: int, values: Mapping[str, float]) -> None
    log_image(step: int, name: str, image: np.ndarray) -> None      # (H, W, C) uint8
    log_artifact(path: Path) -> None
    close() -> None

Optional loggers are picked by ``--log`` (config key ``log``, a comma list, default
``tensorboard,csv``) from ``LOGGERS``, which maps a name to a factory ``(LoggerContext) -> Logger``.
Adding a backend (MLflow, W&B, ...) is one module here -- a ``LoggerBase`` subclass that imports its
client library in ``__init__`` (so ganforge does not depend on it) and a factory -- plus one
``LOGGERS.register`` line below. The sample grids (with progress.gif and loss_curves.png) are always
written (``SampleGrids``), as are the checkpoints (``training.checkpoint.RunCheckpoints``).
"""

from __future__ import annotations

from collections.abc import Callable

from ganforge.registry import Registry
from ganforge.training.loggers.base import (
    FINAL_SAMPLES,
    SAMPLES,
    Logger,
    LoggerBase,
    LoggerContext,
    Loggers,
    RunEnd,
)
from ganforge.training.loggers.history import HistoryCsv, history_logger
from ganforge.training.loggers.samples import SampleGrids
from ganforge.training.loggers.tensorboard import TensorBoardLogger, tensorboard_logger
from ganforge.training.loggers.trackers import make_mlflow_logger, make_wandb_logger

LoggerFactory = Callable[[LoggerContext], Logger]

LOGGERS: Registry[LoggerFactory] = Registry("logger", plugin_group="ganforge.loggers")
LOGGERS.register("tensorboard", tensorboard_logger)  # tb/: scalars, sample grids, the config as text
LOGGERS.register("csv", history_logger)  # history.csv: one row per logged step


def mlflow_logger(context: LoggerContext) -> Logger:
    return make_mlflow_logger(context.paths.root, context.config.to_dict(), resume=context.resume_step is not None)


def wandb_logger(context: LoggerContext) -> Logger:
    return make_wandb_logger(context.paths.root, context.config.to_dict(), resume=context.resume_step is not None)


# The trackers import their optional libraries only when a run asks for them (pip install 'ganforge[mlflow]').
LOGGERS.register("mlflow", mlflow_logger)  # params, metrics, sample grids and the generator as artifacts
LOGGERS.register("wandb", wandb_logger)  # the same to Weights & Biases, offline unless configured online

NO_LOGGERS = "none"


def logger_names(text: str) -> list[str]:
    """``--log`` -> the registered logger names it lists, in order; an unknown one is a one-line error."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == [NO_LOGGERS]:
        return []
    for name in names:
        LOGGERS.get(name)
    return list(dict.fromkeys(names))


def build_loggers(context: LoggerContext) -> list[Logger]:
    return [LOGGERS.get(name)(context) for name in logger_names(context.config.log)]


__all__ = ["FINAL_SAMPLES", "LOGGERS", "SAMPLES", "HistoryCsv", "Logger", "LoggerBase", "LoggerContext",
           "Loggers", "RunEnd", "SampleGrids", "TensorBoardLogger", "build_loggers", "logger_names"]
