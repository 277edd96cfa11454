"""Comparison figures (matplotlib, Agg): loss curves overlaid, and each curve value of the metric registry
(FID, FD_digits, HQ) against step and against wall time, with the real-data floor as a dashed line.

Each run keeps one colour across every figure of a report. Figures are written as PNG; a figure with no
data at all is not drawn (the report says why instead).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import matplotlib
import matplotlib.pyplot as plt

from ganforge.fileio import atomic_path
from ganforge.metrics.floor import Floor
from ganforge.metrics.specs import find_value, value_title
from ganforge.report.collect import RunSummary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SMOOTH_ABOVE = 80  # logged rows; shorter curves are drawn raw
SMOOTH_POINTS = 40  # a long curve is averaged down to about this many windows' worth of detail


def run_colors(count: int) -> list[str]:
    cmap = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    return [matplotlib.colors.to_hex(cmap(i % cmap.N)) for i in range(count)]


def smoothing_window(length: int) -> int:
    return max(1, length // SMOOTH_POINTS) if length > SMOOTH_ABOVE else 1


def moving_average(values: list[float], window: int) -> list[float]:
    """Trailing mean over ``window`` finite values; NaNs are skipped, not propagated."""
    if window <= 1:
        return list(values)
    out: list[float] = []
    for i in range(len(values)):
        chunk = [v for v in values[max(0, i - window + 1):i + 1] if math.isfinite(v)]
        out.append(sum(chunk) / len(chunk) if chunk else math.nan)
    return out


def _pyplot() -> ModuleType:
    matplotlib.use("Agg")

    return plt


def _save(fig: Figure, out: Path) -> None:
    plt = _pyplot()
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def loss_groups(runs: list[RunSummary]) -> dict[str, list[int]]:
    """Run indices by loss function: losses of different functions live on different scales (a
    Wasserstein critic's values dwarf a BCE discriminator's), so each function gets its own panels."""
    groups: dict[str, list[int]] = {}
    for index, run in enumerate(runs):
        if run.history.get("step") and run.history.get("loss_d"):
            groups.setdefault(str(run.config.get("loss", "?")), []).append(index)
    return groups


def plot_loss_overlay(runs: list[RunSummary], out: Path) -> str | None:
    """D and G losses of every run against step, one column per loss function; the caption, or None when
    no run has a history."""
    groups = loss_groups(runs)
    if not groups:
        return None
    plt = _pyplot()
    colors = run_colors(len(runs))
    columns = len(groups)
    fig, axes = plt.subplots(2, columns, figsize=(max(6.5, 4.6 * columns), 6.2), sharex=True, squeeze=False)
    windows = set()
    for column, (loss, indices) in enumerate(groups.items()):
        top, bottom = axes[0][column], axes[1][column]
        for index in indices:
            run = runs[index]
            steps = run.history["step"]
            window = smoothing_window(len(steps))
            windows.add(window)
            top.plot(steps, moving_average(run.history.get("loss_d", []), window), color=colors[index], lw=1.3,
                     label=run.name)
            bottom.plot(steps, moving_average(run.history.get("loss_g", []), window), color=colors[index], lw=1.3)
        top.set_title(f"loss: {loss}")
        top.legend(loc="best", fontsize=8)
        bottom.set_xlabel("step")
        for axis in (top, bottom):
            axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("D loss")
    axes[1][0].set_ylabel("G loss")
    _save(fig, out)
    smoothing = ("raw logged values" if windows == {1} else
                 f"moving average over up to {max(windows)} logged rows")
    split = " One column per loss function, since their scales differ." if columns > 1 else ""
    return f"Discriminator (top) and generator (bottom) loss against step, {smoothing}.{split}"


def floor_lines(floors: Sequence[Floor], key: str) -> list[tuple[str, float]]:
    """(legend label, value) of each floor that measured ``key``; the dataset named when there are several."""
    measured = [(floor, value) for floor in floors if (value := floor.values.get(key)) is not None]
    datasets = {floor.request.data for floor, _ in measured}
    return [(f"{floor.label}{f', {floor.request.data}' if len(datasets) > 1 else ''}", value)
            for floor, value in measured]


def plot_curves(runs: list[RunSummary], out: Path, key: str, floors: Sequence[Floor] = ()) -> str | None:
    """Metric ``key`` against step (left) and training wall time (right), each floor of ``key`` a dashed
    horizontal line; None when no run has it."""
    drawable = [(i, r) for i, r in enumerate(runs) if r.curves.get(key)]
    if not drawable:
        return None
    plt = _pyplot()
    colors = run_colors(len(runs))
    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for index, run in drawable:
        points = run.curves[key]
        style = dict(color=colors[index], marker="o", ms=4, lw=1.3)
        by_step.plot([p[0] for p in points], [p[2] for p in points], label=run.name, **style)
        timed = [(p[1] / 60, p[2]) for p in points if p[1] is not None]
        if timed:
            by_time.plot([t for t, _ in timed], [v for _, v in timed], **style)
    lines = floor_lines(floors, key)
    for number, (label, value) in enumerate(lines):
        for axis in (by_step, by_time):
            axis.axhline(value, color="0.35", ls=("--", ":", "-.")[number % 3], lw=1.1,
                         label=label if axis is by_step else None)
    # From 0, so that a single measurement per run still shows where in training (and at what cost) it sits.
    by_step.set_xlim(0, 1.05 * max(p[0] for _, r in drawable for p in r.curves[key]))
    times = [p[1] / 60 for _, r in drawable for p in r.curves[key] if p[1] is not None]
    if times:
        by_time.set_xlim(0, 1.05 * max(times))
    by_step.set_xlabel("step")
    by_time.set_xlabel("training wall time (minutes)")
    label = value_title(key)
    found = find_value(key)
    better = found[1].better if found else None
    by_step.set_ylabel(f"{label} ({better} is better)" if better else label)
    for axis in (by_step, by_time):
        axis.grid(alpha=0.3)
    by_step.legend(loc="best", fontsize=8)
    _save(fig, out)
    single = all(len(r.curves[key]) == 1 for _, r in drawable)
    note = " Each run was measured once, at its final step." if single else ""
    if lines:
        note += (f" Grey lines: {' / '.join(text for text, _ in lines)}, real images scored under the sweep's "
                 "evaluation protocol (the floor a run's final value can reach).")
    return f"{label} against training step (left) and training wall time (right).{note}"
