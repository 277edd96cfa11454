"""2-D samples as scatter plots: training grids of points, ``generate``, ``serve`` and their animations."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SCATTER_SIZE = 256
REFERENCE_POINTS = 2000  # training points drawn in grey underneath


def scatter_picture(points: torch.Tensor, labels: torch.Tensor | None = None, reference: torch.Tensor | None = None,
                    limits: tuple[float, float, float, float] | None = None, size: int = SCATTER_SIZE) -> np.ndarray:
    """2-D samples as a ``size`` x ``size`` (H, W, 3) uint8 scatter plot (coloured by class when labelled).

    Uses matplotlib's object API, not pyplot, because pyplot's global state is not thread-safe and the
    server renders from several threads.
    """
    dpi = 64
    fig = Figure(figsize=(size / dpi, size / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96))
    if reference is not None:
        ref_x, ref_y = reference[:REFERENCE_POINTS].detach().float().cpu().T.numpy()
        ax.scatter(ref_x, ref_y, s=2, c="0.8")
    xy = points.detach().float().cpu().numpy()
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=3, c="tab:blue")
    else:  # class k in colour k of tab10 (colour limits only where there is a colour map to bound)
        ax.scatter(xy[:, 0], xy[:, 1], s=3, c=labels.cpu().numpy() % 10, cmap="tab10", vmin=0, vmax=9)
    if limits is not None:
        ax.set_xlim(limits[0], limits[1])
        ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def scatter_limits(*clouds: torch.Tensor | None, margin: float = 0.1) -> tuple[float, float, float, float]:
    """Axis limits covering every cloud, so the frames of an animation share one view."""
    stacked = torch.cat([c.float() for c in clouds if c is not None and len(c)])
    low, high = stacked.min(0).values, stacked.max(0).values
    pad = (high - low).clamp_min(1e-3) * margin
    return (float(low[0] - pad[0]), float(high[0] + pad[0]), float(low[1] - pad[1]), float(high[1] + pad[1]))
