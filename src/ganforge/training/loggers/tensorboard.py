"""TensorBoard event files in tb/ (``--log tensorboard``): every scalar, the sample grids, the config."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from torch.utils.tensorboard import SummaryWriter

from ganforge.training.loggers.base import LoggerBase, LoggerContext, RunEnd

CONFIG_TAG = "config"


class TensorBoardLogger(LoggerBase):
    def __init__(self, folder: Path, start_step: int = 0, resumed: bool = False) -> None:
        # A resumed run discards the events a previous launch wrote after its checkpoint.
        self.writer = SummaryWriter(str(folder), purge_step=start_step + 1 if resumed else None)
        self.start_step = start_step

    def log_config(self, config: Mapping[str, Any]) -> None:
        text = yaml.safe_dump(dict(config), sort_keys=False)
        # indented four spaces: a Markdown code block, so TensorBoard's text tab keeps the YAML layout
        self.writer.add_text(CONFIG_TAG, "".join(f"    {line}\n" for line in text.splitlines()), self.start_step)

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    def log_image(self, step: int, name: str, image: np.ndarray) -> None:
        self.writer.add_image(name, image, step, dataformats="HWC")

    def close(self, status: RunEnd = "finished") -> None:
        self.writer.close()


def tensorboard_logger(context: LoggerContext) -> TensorBoardLogger:
    return TensorBoardLogger(context.paths.tensorboard, context.start_step, context.resume_step is not None)
