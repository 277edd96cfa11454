"""Training curves read from history.csv."""

from __future__ import annotations

import csv
from pathlib import Path

from ganforge.fileio import atomic_path


def read_history(path: Path) -> dict[str, list[float]]:
    """history.csv -> column name -> values (empty cells skipped per column, as NaN)."""
    columns: dict[str, list[float]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                columns.setdefault(key, []).append(float(value) if value not in ("", None) else float("nan"))
    return columns


def plot_loss_curves(history_csv: Path, out: Path, title: str = "") -> None:
    """G and D losses (top) and D's outputs on real and fake (bottom) against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = read_history(history_csv)
    steps = history.get("step", [])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
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
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def plot_column(history_csv: Path, column: str, out: Path, ylabel: str, title: str = "") -> bool:
    """One history.csv column against step (e.g. ADA's p); False (nothing written) when it has no values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = read_history(history_csv)
    if column not in history:
        return False
    fig, axis = plt.subplots(figsize=(8, 3))
    axis.plot(history.get("step", []), history[column], lw=1.2)
    axis.set_xlabel("step")
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    if title:
        axis.set_title(title)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return True
