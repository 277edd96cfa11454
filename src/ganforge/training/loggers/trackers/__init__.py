"""Experiment-tracker loggers (``--log mlflow``, ``--log wandb``): one module each, with a factory
``make_<tracker>_logger(run_dir, config, *, resume)`` that imports its optional library only when called.

The module names end in ``_logger`` so that none of them reads as the library it wraps.
"""

from ganforge.training.loggers.trackers.mlflow_logger import make_mlflow_logger
from ganforge.training.loggers.trackers.wandb_logger import make_wandb_logger

__all__ = ["make_mlflow_logger", "make_wandb_logger"]
