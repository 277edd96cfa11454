"""From folders on disk to :class:`RunSummary` objects: everything a comparison shows about each run.

Accepted inputs: run folders (they hold ``config.yaml``), sweep folders (``sweep.json``, or simply a folder
whose subfolders are runs). Anything else is a one-line error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganforge.data import dataset_kind
from ganforge.errors import GanforgeError
from ganforge.metrics.floor import Floor, FloorRequest, cached_floors
from ganforge.metrics.records import MetricRecord, generator_step, last_finite, read_json, read_metric_records
from ganforge.metrics.specs import metric_values
from ganforge.runfolder import RunFolder, is_run_folder, read_config, read_history_columns

SWEEP_INDEX = "sweep.json"


@dataclass
class RunSummary:
    name: str
    path: Path
    config: dict[str, Any]
    step: int | None  # steps trained (generator.json, else the last history row)
    seconds: float | None  # training wall time, resumed segments included
    images_per_s: float | None  # generator images per training second
    values: dict[str, float | None]  # the latest measurement of each metric
    protocols: dict[str, dict[str, Any]]  # metric key -> the protocol of the record that measured it
    eval_step: int | None  # the step those values measured
    history: dict[str, list[float]]
    final_png: Path | None
    curves: dict[str, list[tuple[int, float | None, float]]] = field(default_factory=dict)  # of curve values
    axes: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset(self) -> str:
        return str(self.config.get("data", "?"))

    @property
    def kind(self) -> str | None:
        """The data kind of its dataset; None for a dataset name this version does not know."""
        try:
            return dataset_kind(self.dataset)
        except GanforgeError:
            return None

    @property
    def model_label(self) -> str:
        preset, model = self.config.get("preset"), self.config.get("model", "?")
        return f"{preset} ({model})" if preset and preset != model else str(model)


@dataclass
class Collection:
    runs: list[RunSummary]
    title: str = "GAN comparison"
    description: str = ""
    missing: list[str] = field(default_factory=list)  # runs a sweep plans that have no folder yet
    floors: list[Floor] = field(default_factory=list)  # the real-data floors of the sweeps' protocols
    unmeasured_floors: list[str] = field(default_factory=list)  # datasets whose floor a sweep asks for


# -- files ------------------------------------------------------------------------------------------

def seconds_at(history: dict[str, list[float]], step: int) -> float | None:
    """Training seconds at ``step``, interpolated between logged rows (FID against wall time)."""
    pairs = [(s, t) for s, t in zip(history.get("step", []), history.get("seconds", []), strict=False)
             if math.isfinite(s) and math.isfinite(t)]
    if not pairs:
        return None
    for (s0, t0), (s1, t1) in zip(pairs, pairs[1:], strict=False):
        if s0 <= step <= s1:
            return t0 if s1 == s0 else t0 + (t1 - t0) * (step - s0) / (s1 - s0)
    return pairs[-1][1] if step >= pairs[-1][0] else pairs[0][1]


def latest_values(records: list[MetricRecord], step: int | None
                  ) -> tuple[dict[str, float | None], dict[str, dict[str, Any]], int | None]:
    """Values (and their protocols) of the latest evaluated step; later records win at the same step.

    The trained step is preferred, so an evaluation of an earlier checkpoint never masquerades as final."""
    steps = [r.step for r in records if r.step is not None and r.values]
    if not steps:
        return {}, {}, None
    chosen = step if step in steps else max(steps)
    values: dict[str, float | None] = {}
    protocols: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.step == chosen:
            for key, value in record.values.items():
                values[key] = value
                protocols[key] = record.protocol
    return values, protocols, chosen


def curve_points(records: list[MetricRecord], history: dict[str, list[float]],
                 key: str) -> list[tuple[int, float | None, float]]:
    """(step, training seconds, value) of metric ``key`` from metrics.jsonl and from a history.csv column,
    one value per step (the latest). Seconds come from the record (evaluations during training carry
    ``train_seconds``), else from history.csv at that step."""
    by_step: dict[int, tuple[float | None, float]] = {}
    for step, value in zip(history.get("step", []), history.get(key, []), strict=False):
        if math.isfinite(step) and math.isfinite(value):
            by_step[int(step)] = (None, value)
    for record in records:
        measured = record.values.get(key)
        if record.step is not None and measured is not None:
            seconds = record.raw.get("train_seconds")
            by_step[record.step] = (float(seconds) if isinstance(seconds, (int, float)) else None, measured)
    points = []
    for step in sorted(by_step):
        seconds, value = by_step[step]
        points.append((step, seconds if seconds is not None else seconds_at(history, step), value))
    return points


def summarize_run(path: Path, name: str | None = None, axes: dict[str, Any] | None = None) -> RunSummary:
    folder = RunFolder(path)
    config = read_config(folder.config)
    history = read_history_columns(folder.history)
    records = read_metric_records(folder.metrics)
    step = generator_step(path)
    if step is None:
        last_step = last_finite(history.get("step", []))
        step = int(last_step) if last_step is not None else None
    seconds = last_finite(history.get("seconds", []))
    batch = config.get("batch_size")
    rate = (step * batch / seconds) if step and isinstance(batch, int) and seconds else None
    values, protocols, eval_step = latest_values(records, step)
    final = folder.final_samples
    return RunSummary(name=name or path.name, path=path, config=config, step=step, seconds=seconds,
                      images_per_s=rate, values=values, protocols=protocols, eval_step=eval_step,
                      history=history, final_png=final if final.is_file() else None,
                      curves={value.key: curve_points(records, history, value.key)
                              for _, value in metric_values() if value.curve},
                      axes=axes or {})


# -- inputs -----------------------------------------------------------------------------------------

def expand_input(path: Path) -> tuple[list[tuple[Path, dict[str, Any]]], list[str], dict[str, Any] | None]:
    """A run folder -> itself; a sweep folder -> its runs (plan order) and the names not trained yet."""
    if not path.exists():
        raise GanforgeError(f"{path} does not exist; pass run folders or a sweep folder")
    if not path.is_dir():
        raise GanforgeError(f"{path} is not a folder; pass run folders (with config.yaml) or a sweep folder")
    if is_run_folder(path):
        return [(path, {})], [], None
    index = read_json(path / SWEEP_INDEX)
    if index and isinstance(index.get("runs"), list):
        found, missing = [], []
        for entry in index["runs"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("run_dir"), str):
                continue
            run = path / entry["run_dir"]
            if is_run_folder(run):
                found.append((run, entry.get("axes") or {}))
            else:
                missing.append(str(entry.get("name", entry["run_dir"])))
        return found, missing, index
    runs = sorted(child for child in path.iterdir() if child.is_dir() and is_run_folder(child))
    if not runs:
        raise GanforgeError(f"{path} is not a run folder (no config.yaml) nor a sweep folder (no sweep.json "
                            "and no run subfolders)")
    return [(run, {}) for run in runs], [], None


def sweep_floors(folder: Path, index: dict[str, Any]) -> tuple[list[Floor], list[str]]:
    """The floors the sweep's plan asks for that its floor.json holds, and the datasets of those it lacks:
    a floor measured under another protocol (an earlier evaluation: block) is not these runs' floor."""
    wanted = [request for entry in index.get("floors") or [] if (request := FloorRequest.from_key(entry))]
    found = cached_floors(folder, wanted)
    measured = {floor.request for floor in found}
    return found, [request.data for request in wanted if request not in measured]


def unique_names(paths: list[Path]) -> list[str]:
    """Folder names, prefixed with their parent where two runs share one (runs of different sweeps)."""
    names = [p.name for p in paths]
    return [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in paths]


def collect(inputs: list[Path]) -> Collection:
    entries: list[tuple[Path, dict[str, Any]]] = []
    missing: list[str] = []
    sweeps: list[dict[str, Any]] = []
    floors: list[Floor] = []
    unmeasured: list[str] = []
    for path in inputs:
        found, absent, index = expand_input(Path(path).expanduser())
        entries += found
        missing += absent
        if index:
            sweeps.append(index)
            found_floors, lacking = sweep_floors(Path(path).expanduser(), index)
            floors += [floor for floor in found_floors if floor not in floors]
            unmeasured += lacking
    seen: set[Path] = set()
    unique = []
    for path, axes in entries:  # the same run named twice (directly and through its sweep) counts once
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((path, axes))
    if not unique:
        raise GanforgeError("no trained run to compare yet" + (f" (not started: {', '.join(missing)})" if missing else ""))
    names = unique_names([p for p, _ in unique])
    runs = [summarize_run(path, name, axes) for (path, axes), name in zip(unique, names, strict=True)]
    title = "GAN comparison"
    description = ""
    if len(sweeps) == 1 and len(inputs) == 1:
        title = f"Sweep {sweeps[0].get('name', '')}".strip()
        description = str(sweeps[0].get("description") or "")
    return Collection(runs=runs, title=title, description=description, missing=missing, floors=floors,
                      unmeasured_floors=unmeasured)
