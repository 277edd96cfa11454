"""Training curves read from history.csv."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from matplotlib.figure import Figure

from ganforge.fileio import atomic_path


def read_history(path: Path) -> dict[str, list[float]]:
    """history.csv -> column name -> values (empty cells skipped per column, as NaN)."""
    columns: dict[str, list[float]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                columns.setdefault(key, []).append(float(value) if value not in ("", None) else float("nan"))
    return columns


def plot_loss_curves(history_csv: Path, out: Path, title: str = "", scalars: Sequence[str] | None = None) -> None:
    """G and D losses (top) and D's outputs on real and fake (bottom) against step; ``scalars``: these
    columns in one panel instead (the scalars of a training step of one's own)."""
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        draw_loss_curves(read_history(history_csv), handle, title, scalars)


def loss_curves_png(history: dict[str, list[float]], title: str = "", scalars: Sequence[str] | None = None) -> bytes:
    """The picture of :func:`plot_loss_curves` from columns in memory (a notebook's live curves)."""
    buffer = io.BytesIO()
    draw_loss_curves(history, buffer, title, scalars)
    return buffer.getvalue()


def draw_loss_curves(history: dict[str, list[float]], out: BinaryIO, title: str = "",
                     scalars: Sequence[str] | None = None) -> None:
    # A Figure of its own, not pyplot: no backend switch under a notebook's inline plots.

    steps = history.get("step", [])
    if scalars is not None:
        fig = Figure(figsize=(8, 4))
        axes = fig.subplots()
        for key in scalars:
            axes.plot(steps, history.get(key, []), label=key, lw=1.2)
        axes.set(xlabel="step", ylabel="value", title=title)
        if scalars:
            axes.legend(loc="upper right")
        axes.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out, format="png", dpi=100)
        return
    fig = Figure(figsize=(8, 6))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(steps, history.get("loss_d", []), label="D loss", lw=1.2)
    top.plot(steps, history.get("loss_g", []), label="G loss", lw=1.2)
    top.set_ylabel("loss")
    top.legend(loc="upper right")
    top.grid(alpha=0.3)
    if title:
        top.set_title(title)
    bottom.plot(steps, history.get("d_real", []), label="D(x)", lw=1.2)
    bottom.plot(steps, history.get("d_fake", []), label="D(G(z))", lw=1.2)
    bottom.set_xlabel("step")
    bottom.set_ylabel("D output")
    bottom.legend(loc="upper right")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=100)


def plot_column(history_csv: Path, column: str, out: Path, ylabel: str, title: str = "") -> bool:
    """One history.csv column against step (e.g. ADA's p); False (nothing written) when it has no values."""
    history = read_history(history_csv)
    if column not in history:
        return False
    fig = Figure(figsize=(8, 3))
    axis = fig.subplots()
    axis.plot(history.get("step", []), history[column], lw=1.2)
    axis.set_xlabel("step")
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    if title:
        axis.set_title(title)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return True
