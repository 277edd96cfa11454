"""The runs under RUNS_DIR, found once and addressed by ID: the only way the page names a run.

A run ID is the run folder's path relative to RUNS_DIR, as listed by :func:`find_runs`. The server
looks IDs up in that listing and never opens a client-supplied string as a path, so ``../`` or an
absolute path cannot reach anything: at worst it is an unknown ID. Folders reached through symlinks
are not followed, and every file served is resolved and checked to lie inside RUNS_DIR, so a symlink
planted inside a run cannot leak files from elsewhere either.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.metrics.specs import metric_values
from ganforge.models.io import read_generator_info, spec_name, weights_file
from ganforge.runfolder import INTERNAL_DIRS, METRICS_FILE, RunFolder

MAX_DEPTH = 4  # RUNS_DIR/<group>/<group>/<run>: deep enough for sweeps, bounded for huge trees
MAX_RUNS = 500
SKIP_DIRS = INTERNAL_DIRS | {"__pycache__", "node_modules"}
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.+=@,-]+(/[A-Za-z0-9_.+=@,-]+)*$")


def artifacts() -> dict[str, str]:
    """Training pictures the page may show: public name -> path inside the run folder; the only files of a
    run it serves. The metric curves are those --eval-every can draw, one per registered metric value."""
    curves = {value.curve_file: value.curve_file for _, value in metric_values()}
    layout = RunFolder(Path())
    pictures = (layout.loss_curves, *(Path(curve) for curve in curves), layout.progress_gif, layout.final_samples)
    return {path.name: path.as_posix() for path in pictures}


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    path: Path  # resolved, inside the resolved RUNS_DIR


def is_inside(path: Path, root: Path) -> bool:
    """``path`` resolves (symlinks followed) to ``root`` or below."""
    try:
        return path.resolve(strict=True).is_relative_to(root)
    except (OSError, RuntimeError):  # missing file or a symlink loop
        return False


def check_run_id(run_id: str) -> str:
    """Reject IDs that could not come from the listing: traversal, absolute paths, odd characters."""
    if not run_id or len(run_id) > 300:
        raise GanforgeError("missing or over-long run ID; pick a run from the list")
    parts = run_id.split("/")
    if run_id.startswith("/") or "\\" in run_id or any(part in ("", ".", "..") for part in parts):
        raise GanforgeError("invalid run ID: runs are named by their ID in the list, never by a path")
    if not ID_PATTERN.match(run_id):
        raise GanforgeError("invalid run ID: unexpected characters; pick a run from the list")
    return run_id


def find_runs(root: Path) -> dict[str, RunEntry]:
    """Every folder under ``root`` (itself included) holding a generator, keyed by its ID."""
    root = root.resolve()
    runs: dict[str, RunEntry] = {}
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(folder)
        depth = len(here.relative_to(root).parts)
        # Prune in place: no hidden folders, no run internals, nothing below the depth limit.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS
                             and depth < MAX_DEPTH)
        description = spec_name(filenames)  # a run folder's generator.json, or a Hub folder's config.json
        if description is None:
            continue
        run_id = here.name if here == root else here.relative_to(root).as_posix()
        if not ID_PATTERN.match(run_id) or not is_inside(here / description, root):
            continue
        runs[run_id] = RunEntry(run_id, here)
        if len(runs) >= MAX_RUNS:
            break
    return runs


def run_file(entry: RunEntry, root: Path, relative: str) -> Path | None:
    """A file of the run, when it exists and resolves inside RUNS_DIR; else None."""
    path = entry.path / relative
    return path if path.is_file() and is_inside(path, root.resolve()) else None


def best_metrics(lines: list[str]) -> dict[str, dict[str, Any]]:
    """value key -> {"value", "step"} of its best evaluation, for every value of the metric registry that
    has a better direction, from metrics.jsonl lines (bad lines skipped)."""
    ranked = [value for _, value in metric_values() if value.better]
    best: dict[str, dict[str, Any]] = {}  # "step" is whatever the record holds, possibly None
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            continue
        for metric in ranked:
            value = record.get(metric.key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            current = best.get(metric.key)
            if current is None or metric.better_than(value, current["value"]):
                best[metric.key] = {"value": float(value), "step": record.get("step")}
    return best


def _read_text(path: Path | None, limit: int = 5 * 2**20) -> str | None:
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(limit)
    except OSError:
        return None


def run_summary(entry: RunEntry, root: Path) -> dict[str, Any]:
    """What the page lists for a run; reads JSON only, never the weights."""
    summary: dict[str, Any] = {"id": entry.run_id}
    weights_name = weights_file(entry.path).name
    weights = run_file(entry, root, weights_name)
    try:
        info = read_generator_info(entry.path)
    except GanforgeError as exc:
        return {**summary, "error": str(exc)}
    spec, meta = info.spec, info.meta
    recorded_config = meta.get("config")
    config = recorded_config if isinstance(recorded_config, dict) else {}
    names = meta.get("class_names")
    class_names = [str(n) for n in names] if isinstance(names, list) and len(names) == spec.num_classes else None
    metrics_text = _read_text(run_file(entry, root, METRICS_FILE))
    summary.update(
        model=spec.family,
        dataset=str(meta.get("dataset", "?")),
        loss=config.get("loss"),
        steps=meta.get("step"),
        ema=bool(meta.get("ema")),
        kind=info.kind,
        resolution=spec.resolution,
        channels=spec.channels,
        z_dim=spec.z_dim,
        num_classes=spec.num_classes,
        class_names=class_names or [str(i) for i in range(spec.num_classes)],
        best=best_metrics(metrics_text.splitlines()) if metrics_text else {},
        artifacts=[name for name, rel in artifacts().items() if run_file(entry, root, rel) is not None],
    )
    if weights is None:
        summary["error"] = f"no {weights_name} yet (still training?)"
    return summary
