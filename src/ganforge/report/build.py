"""``build_report(inputs, out)``: collect runs, rank them, draw the figures and write HTML or Markdown.

The HTML file is self-contained (images as base64 data URIs, inline CSS), so it can be mailed or opened
from disk; the Markdown file links its PNGs, written to ``<stem>_files/`` next to it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ganforge import __version__
from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write_text
from ganforge.metrics.floor import Floor
from ganforge.metrics.specs import metric_values
from ganforge.report.collect import Collection, RunSummary, collect
from ganforge.report.figures import plot_curves, plot_loss_overlay
from ganforge.report.render_html import render_html
from ganforge.report.render_md import render_markdown
from ganforge.report.study import BestTrial, Section, study_report
from ganforge.report.table import Best, Table, best_runs, build_table
from ganforge.runfolder import LOSS_CURVES_FILE
from ganforge.tune.storage import INDEX_FILE, read_index

FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}


@dataclass(frozen=True)
class Picture:
    title: str
    caption: str
    path: Path  # a PNG on disk (a run's own file or a figure drawn for the report)
    name: str  # file name in the Markdown asset folder


@dataclass
class ReportContent:
    title: str
    description: str
    generated: str
    table: Table
    best: list[Best]
    unranked: list[str]
    grids: list[Picture]
    figures: list[Picture]
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)  # a study's tables, shown before the runs
    floors: list[Floor] = field(default_factory=list)  # real data under the runs' protocol (sweeps)


def report_format(out: Path) -> str:
    try:
        return FORMATS[out.suffix.lower()]
    except KeyError:
        raise GanforgeError(f"--out {out}: the report format comes from the extension; use .html (one "
                            "self-contained file) or .md (Markdown plus a folder of PNGs)") from None


def asset_folder(out: Path) -> Path:
    return out.with_name(f"{out.stem}_files")


def check_output(out: Path, overwrite: bool) -> None:
    if out.exists() and out.is_dir():
        raise GanforgeError(f"--out {out} is a folder; give a file name ending in .html or .md")
    if out.exists() and not overwrite:
        raise GanforgeError(f"{out} already exists; pass --overwrite to replace it or choose another --out")


def file_slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"


def grid_caption(run: RunSummary) -> str:
    step = f"step {run.step}" if run.step is not None else "step ?"
    return f"{run.model_label}, {run.config.get('loss', '?')}, {run.dataset}, {step}"


def assemble(collection: Collection, figure_dir: Path) -> ReportContent:
    runs = collection.runs
    best, unranked = best_runs(runs)
    table = build_table(runs, best, collection.floors)
    grids = [Picture(run.name, grid_caption(run), run.final_png, f"{file_slug(run.name)}-final.png")
             for run in runs if run.final_png is not None]
    notes: list[str] = []
    without_grid = [run.name for run in runs if run.final_png is None]
    if without_grid:
        notes.append(f"No final sample grid (training not finished?): {', '.join(without_grid)}.")
    figures: list[Picture] = []
    caption = plot_loss_overlay(runs, figure_dir / LOSS_CURVES_FILE)  # named as each run's own
    if caption:
        figures.append(Picture("Loss curves", caption, figure_dir / LOSS_CURVES_FILE, LOSS_CURVES_FILE))
    else:
        notes.append("No history.csv with losses in any run: no loss curves.")
    kinds = {run.kind for run in runs}
    for spec, value in metric_values():
        if not value.curve:
            continue
        caption = plot_curves(runs, figure_dir / f"{value.key}.png", value.key, collection.floors)
        if caption:
            figures.append(Picture(f"{value.label} against step and wall time", caption,
                                   figure_dir / f"{value.key}.png", f"{value.key}.png"))
        elif spec.default and spec.data_kind in kinds:  # what these runs would normally have measured
            notes.append(f"No {value.label} measured in any run (metrics.jsonl / history.csv): no {value.label} "
                         "curves.")
    if collection.missing:
        notes.append(f"Planned by the sweep but not trained yet: {', '.join(collection.missing)}.")
    if collection.unmeasured_floors:
        notes.append(f"No real-data floor under this evaluation protocol yet for "
                     f"{', '.join(dict.fromkeys(collection.unmeasured_floors))}: `ganforge sweep FILE` measures it "
                     "after the runs (floor.json).")
    sources = [f"{run.name}: {run.path}" for run in runs]
    return ReportContent(title=collection.title, description=collection.description,
                         generated=f"{time.strftime('%Y-%m-%d %H:%M')} by ganforge {__version__}", table=table,
                         best=best, unranked=unranked, grids=grids, figures=figures, notes=notes, sources=sources,
                         floors=collection.floors)


def shareable(path: Path) -> None:
    """Reports are meant to be shared: the umask's usual permissions, not the 0600 of a temporary file."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def write_markdown(content: ReportContent, out: Path) -> None:
    assets = asset_folder(out)
    if assets.exists():
        for old in assets.glob("*.png"):  # left by an earlier report; --overwrite was checked for out
            old.unlink()
    assets.mkdir(parents=True, exist_ok=True)
    for picture in [*content.grids, *content.figures]:
        shutil.copyfile(picture.path, assets / picture.name)
        shareable(assets / picture.name)
    atomic_write_text(out, render_markdown(content, assets.name))


def study_best(best: BestTrial, runs: list[RunSummary]) -> Best:
    """The report's one best for a study: its best trial by the objective, starring that trial's runs."""
    members = [run for run in runs if run.name in best.runs or run.path.name in best.runs]
    datasets = sorted({run.dataset for run in members})
    return Best(", ".join(datasets) or "the study", best.name, best.reason, runs=tuple(run.name for run in members))


def add_study(content: ReportContent, folder: Path, figure_dir: Path, storage: str | None,
              runs: list[RunSummary], floors: Sequence[Floor] = ()) -> None:
    """The study's best trials (mean ± s.e. over seeds), pruned and failed trials and Optuna's figures."""
    study = study_report(folder, figure_dir, storage, content.floors)
    index = read_index(folder) or {}
    if index.get("kind") == "tune":
        content.title = f"Study {index.get('name', folder.name)}"
        content.description = content.description or str(index.get("description") or "")
    content.sections = study.sections
    if study.best is not None:  # one best per report: the study's objective decides it, not the metric ranking
        content.best = [study_best(study.best, runs)]
        content.table = build_table(runs, content.best, floors)
    content.figures = [Picture(title, caption, path, path.name) for title, caption, path in study.figures] + \
        content.figures
    content.notes += study.notes


def build_report(inputs: list[Path], out: Path, *, overwrite: bool = False,
                 storage: str | None = None) -> ReportContent:
    """Write the comparison of ``inputs`` (run, sweep or study folders) to ``out`` (.html or .md); a single
    study folder (study.json) adds its trials, read from its storage (``storage`` overrides the URL)."""
    out = Path(out).expanduser()
    kind = report_format(out)
    check_output(out, overwrite)
    if kind == "md" and asset_folder(out).exists() and any(asset_folder(out).iterdir()) and not overwrite:
        raise GanforgeError(f"{asset_folder(out)} already exists; pass --overwrite to replace it")
    collection = collect(inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ganforge-report-") as tmp:
        content = assemble(collection, Path(tmp))
        if len(inputs) == 1 and (Path(inputs[0]).expanduser() / INDEX_FILE).is_file():
            add_study(content, Path(inputs[0]).expanduser(), Path(tmp), storage, collection.runs, collection.floors)
        if kind == "html":
            atomic_write_text(out, render_html(content))
        else:
            write_markdown(content, out)
    shareable(out)
    return content


def summary_line(content: ReportContent) -> str:
    runs = content.table.floor.count(False)
    best = "; ".join(f"best on {b.dataset}: {b.run} ({b.reason})" for b in content.best)
    return f"{runs} run{'s' if runs != 1 else ''}" + (f"; {best}" if best else "; no metric to rank the runs")


__all__ = ["ReportContent", "build_report", "summary_line"]
