"""The live picture of a run in a Jupyter cell: the latest sample grid and the loss curves so far.

Added by the run (``live_displays``) in a Jupyter kernel when progress is shown; elsewhere nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
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

    def __init__(self, title: str, display: Callable[..., Any] | None = None,
                 scalars: Callable[[], Sequence[str]] | None = None) -> None:
        if display is None:
            from IPython.display import display as ipython_display

            display = ipython_display
        self.title, self.display = title, display
        # ``scalars``: the names a training step of one's own returns (drawn in one panel); None: ganforge's
        # update, drawn as the losses and D's outputs
        self.scalars = scalars
        self.history: dict[str, list[float]] = {key: [] for key in CURVE_KEYS}
        self.handles: list[Any] = []

    def curve_keys(self) -> list[str]:
        return list(self.scalars()) if self.scalars is not None else list(CURVE_KEYS[1:])

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        keys = self.curve_keys()
        if not any(key in values for key in keys):  # a row of callback values only
            return
        rows = len(self.history["step"])
        self.history["step"].append(float(step))
        for key in dict.fromkeys([*self.history, *keys]):
            if key != "step":  # a name first returned now starts with gaps at the earlier rows
                self.history.setdefault(key, [math.nan] * rows).append(float(values.get(key, math.nan)))

    def log_image(self, step: int, name: str, image: np.ndarray) -> None:
        if name not in (SAMPLES, FINAL_SAMPLES):
            return
        pictures = [Picture(image, f"samples at step {step}")]
        if self.history["step"]:
            shown = None if self.scalars is None else self.curve_keys()
            pictures.append(Picture.from_png(loss_curves_png(self.history, self.title, shown), "loss curves"))
        for index, picture in enumerate(pictures):
            if index < len(self.handles):
                self.handles[index].update(picture)
            else:
                self.handles.append(self.display(picture, display_id=True))


def live_displays(title: str, enabled: bool,
                  scalars: Callable[[], Sequence[str]] | None = None) -> list[LiveTraining]:
    """The run's notebook display: one in a Jupyter kernel when progress is shown, none elsewhere."""
    return [LiveTraining(title, scalars=scalars)] if enabled and in_notebook() else []
