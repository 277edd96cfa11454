"""The live picture of a run in a Jupyter cell: the latest sample grid and the loss curves so far.

Added by the run (``live_displays``) in a Jupyter kernel when progress is shown; elsewhere nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ganforge.notebook import Picture
from ganforge.progress import in_notebook
from ganforge.training.loggers.base import FINAL_SAMPLES, SAMPLES, LoggerBase
from ganforge.viz.plots import loss_curves_png

CURVE_KEYS = ("step", "loss_d", "loss_g", "d_real", "d_fake")  # what the loss curves draw


class LiveTraining(LoggerBase):
    """The cell's picture of a running training: the latest sample grid and the loss curves so far, each
    one output replaced in place at every sample step (IPython display handles)."""

    def __init__(self, title: str, display: Callable[..., Any] | None = None) -> None:
        if display is None:
            from IPython.display import display as ipython_display

            display = ipython_display
        self.title, self.display = title, display
        self.history: dict[str, list[float]] = {key: [] for key in CURVE_KEYS}
        self.handles: list[Any] = []

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        if "loss_d" not in values:  # a row of callback values only
            return
        for key in CURVE_KEYS:
            self.history[key].append(float(step) if key == "step" else float(values.get(key, float("nan"))))

    def log_image(self, step: int, name: str, image: np.ndarray) -> None:
        if name not in (SAMPLES, FINAL_SAMPLES):
            return
        pictures = [Picture(image, f"samples at step {step}")]
        if self.history["step"]:
            pictures.append(Picture.from_png(loss_curves_png(self.history, self.title), "loss curves"))
        for index, picture in enumerate(pictures):
            if index < len(self.handles):
                self.handles[index].update(picture)
            else:
                self.handles.append(self.display(picture, display_id=True))


def live_displays(title: str, enabled: bool) -> list[LiveTraining]:
    """The run's notebook display: one in a Jupyter kernel when progress is shown, none elsewhere."""
    return [LiveTraining(title)] if enabled and in_notebook() else []
