"""Sample grids and the pictures made from them, always written: samples/step_XXXXXXX.png at every
``--sample-every`` step, samples/final.png, then progress.gif and loss_curves.png (and augment_p.png
with --augment ada) when the run ends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ganforge.runfolder import RunFolder
from ganforge.training.loggers.base import FINAL_SAMPLES, SAMPLES, LoggerBase
from ganforge.viz import plot_column, plot_loss_curves, save_gif, save_png


class SampleGrids(LoggerBase):
    def __init__(self, paths: RunFolder, sample_every: int, title: str) -> None:
        self.paths, self.sample_every, self.title = paths, sample_every, title
        self.final_step: int | None = None
        self.files: dict[str, Callable[[int], Path]] = {
            SAMPLES: paths.sample_grid,
            FINAL_SAMPLES: lambda step: paths.final_samples,
        }

    def log_image(self, step: int, name: str, image: np.ndarray) -> None:
        if name in self.files:
            save_png(image, self.files[name](step))
        if name == FINAL_SAMPLES:
            self.final_step = step

    def finish(self, scalars: Sequence[str] | None = None) -> list[Path]:
        """progress.gif from the step grids (and the final one, when it is not a step grid), and the loss
        curves from history.csv when there is one (``scalars``: those columns instead of ganforge's losses
        and D outputs); returns the finished pictures."""
        frames = self.paths.step_grids()
        final = self.paths.final_samples
        if self.final_step is not None and self.final_step % self.sample_every:  # else it repeats the last
            frames.append(final)
        written = [final] if final.is_file() else []
        if frames:
            save_gif(frames, self.paths.progress_gif)
            written.append(self.paths.progress_gif)
        if self.paths.history.is_file():
            plot_loss_curves(self.paths.history, self.paths.loss_curves, title=self.title, scalars=scalars)
            written.append(self.paths.loss_curves)
            if plot_column(self.paths.history, "augment_p", self.paths.augment_p_curve, "ADA p", self.title):
                written.append(self.paths.augment_p_curve)
        return written
