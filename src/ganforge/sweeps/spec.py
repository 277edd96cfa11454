"""The sweep file: a strictly validated YAML description of a grid of training runs.

Schema (every key but ``grid``/``runs`` optional; unknown keys are errors with the closest key suggested)::

    name: digits5k-study          # default: the file's stem; names the default output folder runs/<name>
    description: free text        # shown at the top of the comparison report
    out: runs/digits5k-study      # output folder, relative to the working directory (--out overrides)
    metrics: [fid, kid]           # evaluation after training, by name from the metric registry; each run
                                  # gets those of its data kind: image metrics (fid, kid, is, pr, dc,
                                  # all) for image runs, `toy2d` (PacGAN modes / HQ / reverse KL) for 2-D runs
    evaluation:                   # how the metrics are measured
      samples: 5000               # generated samples (N fake); default 5000 (images), 2500 (toy2d)
      reference: null             # reference dataset spec; default: each run's own training set
      reference_samples: null     # N real; default: the whole reference set
      seed: 0                     # latents of the generated samples
      device: auto
      floor: true                 # also score N real images (N = samples, a seeded draw from each image
                                  # dataset's training set) under this same protocol, once: the report's
                                  # "real data" row and reference line (ganforge.sweeps.floor); default true
    settings: {steps: 2000}       # TrainConfig keys shared by every run (they override a preset's values)
    grid:                         # TrainConfig key -> values; the runs are the cartesian product
      preset: [gan, dcgan, {preset: wgan, steps: 3000}]   # a mapping = the value plus its own overrides
      data: [digits5k]
      seed: [0, 1]
    runs:                         # extra runs outside the grid: TrainConfig keys plus an optional name
      - {name: sagan-cifar10, preset: sagan, data: cifar10}

A run's config is ``build_config(settings, grid values, entry overrides, {run_dir})``: defaults < the
preset it names < settings < its grid values < the overrides of its grid entries, each layer validated by
:mod:`ganforge.config` exactly as ``ganforge train --config`` would. Run folders are named from the values
(``wgan-gp_digits5k_seed1``), so a name never depends on the order of the runs or on which ones are done.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ganforge.config import TrainConfig
from ganforge.config_build import build_config, is_toy2d, normalize_keys
from ganforge.data import KIND_NOUNS, kind_sources, split_spec, toy2d_modes
from ganforge.errors import GanforgeError, did_you_mean
from ganforge.losses import LOSSES
from ganforge.metrics.specs import kind_metrics, resolve_metrics
from ganforge.models import MODELS
from ganforge.training.model_spec import model_spec
from ganforge.tune.plan import EvaluationSpec, PlannedRun
from ganforge.tune.schema import check_keys, file_header, mapping, optional_int, read_mapping_file

TOP_KEYS = ("name", "description", "out", "metrics", "evaluation", "settings", "grid", "runs")
EVALUATION_KEYS = ("samples", "reference", "reference_samples", "seed", "device", "floor")
# The sweep decides where each run lives; letting a run pick its own folder would break resuming.
FORBIDDEN_RUN_KEYS = ("run_dir",)
RUN_NAME_KEY = "name"


@dataclass(frozen=True)
class Sweep:
    name: str
    description: str
    source: Path
    out: Path
    evaluation: EvaluationSpec
    runs: tuple[PlannedRun, ...]
    floor: bool = True  # measure the real-data floor (evaluation: floor:), not part of the runs' protocol

    def select(self, names: list[str]) -> Sweep:
        """The sweep restricted to ``names`` (each may be a shell-style pattern), in plan order."""
        known = [run.name for run in self.runs]
        for pattern in names:
            if not fnmatch.filter(known, pattern):
                raise GanforgeError(f"no run of sweep '{self.name}' matches '{pattern}'"
                                    f"{did_you_mean(pattern, known)}; runs: {', '.join(known)}")
        chosen = tuple(run for run in self.runs if any(fnmatch.fnmatchcase(run.name, p) for p in names))
        return dataclasses.replace(self, runs=chosen)


# -- reading ----------------------------------------------------------------------------------------

def read_sweep_file(path: Path) -> dict[str, Any]:
    return read_mapping_file(path, "sweep file", "settings:, grid:, metrics:")


def run_keys(raw: Mapping[Any, Any], where: str) -> dict[str, Any]:
    """TrainConfig keys (``batch-size`` or ``batch_size``), checked by ganforge.config's own rules."""
    keys = normalize_keys(dict(raw), where)
    for key in FORBIDDEN_RUN_KEYS:
        if key in keys:
            raise GanforgeError(f"'{key}' cannot be set in {where}: the sweep puts every run in "
                                f"<out>/<run name>; set the sweep's out: instead")
    return keys


def parse_metrics(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GanforgeError(f"{where} must be a list of metric names like [fid, kid], got {value!r}")
    try:
        return tuple(spec.name for spec in resolve_metrics(value, option="metrics:"))
    except GanforgeError as exc:
        raise GanforgeError(f"{where}: {exc}") from None


def parse_evaluation(raw: dict[str, Any], metrics: tuple[str, ...], where: str) -> EvaluationSpec:
    check_keys(raw, EVALUATION_KEYS, where)
    reference = raw.get("reference")
    if reference is not None:
        if not isinstance(reference, str) or not reference:
            raise GanforgeError(f"{where}.reference must be a dataset spec like mnist, got {reference!r}")

        split_spec(reference)
    device = raw.get("device", "auto")
    if device not in ("auto", "cpu", "cuda"):
        raise GanforgeError(f"{where}.device must be auto, cpu or cuda, got {device!r}")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise GanforgeError(f"{where}.seed must be a whole number, got {seed!r}")
    return EvaluationSpec(metrics=metrics, samples=optional_int(raw.get("samples"), "samples", where),
                          reference=reference,
                          reference_samples=optional_int(raw.get("reference_samples"), "reference_samples", where),
                          seed=seed, device=device)


def parse_floor(raw: dict[str, Any], where: str) -> bool:
    """Whether to measure the real-data floor: on unless the file says false."""
    floor = raw.get("floor", True)
    if not isinstance(floor, bool):
        raise GanforgeError(f"{where}.floor must be true or false, got {floor!r}")
    return floor


# -- planning ---------------------------------------------------------------------------------------

def slug(text: str) -> str:
    """A folder-safe fragment: 'celeba:Smiling' -> 'celeba-Smiling', 'folder:~/my pics' -> 'folder-my-pics'."""
    return re.sub(r"[^A-Za-z0-9.+]+", "-", text).strip("-.")[:48] or "x"


def value_fragment(key: str, value: Any) -> str:
    """Text values name themselves (dcgan, hinge); numbers carry their key (seed1, width32, gp10)."""
    if isinstance(value, str):
        return slug(value)
    if isinstance(value, (list, tuple)):
        value = "-".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    elif isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, float):
        value = f"{value:g}"
    return slug(f"{key.replace('_', '-')}{value}")


def run_name(config: TrainConfig, axes: dict[str, Any]) -> str:
    """``<preset|model>_<data>_<other grid values>``: readable and stable whatever else is in the sweep."""
    parts: list[str] = []
    if "preset" in axes or config.preset:
        parts.append(slug(str(config.preset)))
    if "model" in axes or not config.preset:
        parts.append(slug(config.model))
    parts.append(slug(config.data))
    parts += [value_fragment(key, value) for key, value in axes.items() if key not in ("preset", "model", "data")]
    return "_".join(parts)


@dataclass(frozen=True)
class AxisEntry:
    value: Any
    overrides: dict[str, Any]


def parse_axis(key: str, values: Any, where: str) -> list[AxisEntry]:
    if not isinstance(values, list) or not values:
        raise GanforgeError(f"{where}.{key} must be a non-empty list of values, got {values!r}")
    entries: list[AxisEntry] = []
    for item in values:
        if isinstance(item, dict):
            fields = run_keys(item, f"{where}.{key} entry")
            if key not in fields:
                raise GanforgeError(f"each mapping in {where}.{key} must include the value itself, "
                                    f"e.g. {{{key}: ..., steps: 3000}}; got {item!r}")
            value = fields.pop(key)
            entries.append(AxisEntry(value, fields))
        else:
            entries.append(AxisEntry(item, {}))
    seen = [repr(entry.value) for entry in entries]
    duplicates = sorted({v for v in seen if seen.count(v) > 1})
    if duplicates:
        raise GanforgeError(f"{where}.{key} lists {', '.join(duplicates)} more than once; list each value once")
    return entries


def merge_overrides(entries: tuple[tuple[str, AxisEntry], ...], where: str) -> dict[str, Any]:
    """The entries' own overrides combined; two entries setting one key differently is an error, since
    neither order of the axes is more natural than the other."""
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for axis, entry in entries:
        for key, value in entry.overrides.items():
            if key in merged and merged[key] != value:
                raise GanforgeError(f"{where}: the entries {owner[key]} and {axis}={entry.value!r} both set "
                                    f"{key} ({merged[key]!r} vs {value!r}); set it in one place")
            merged[key], owner[key] = value, f"{axis}={entry.value!r}"
    return merged


def check_names(config: TrainConfig) -> None:
    """Model, loss and dataset names, which build_config leaves to training time: a typo in run 7 of a
    sweep should fail before run 1 spends an hour training."""
    MODELS.get(config.model)
    LOSSES.get(config.loss)
    check_model(config)


def check_model(config: TrainConfig) -> None:
    """The model family's own checks (resolution, options, labels) on the dataset's known shape, without
    loading the data; skipped where the shape depends on the files (folder:PATH, celeba:ATTR labels)."""
    source, arg = split_spec(config.data)
    if is_toy2d(config.data):
        centers, _ = toy2d_modes(str(arg))
        shape = SimpleNamespace(is_image=False, sample_shape=(2,), num_classes=len(centers))
    elif source.resolution and source.channels and not arg:
        shape = SimpleNamespace(is_image=True, resolution=config.resolution or source.resolution,
                                channels=source.channels, num_classes=source.num_classes or 0)
    else:
        return
    spec = model_spec(config, shape)
    MODELS.get(spec.family).check(spec)


def _resolve(layers: list[dict[str, Any]], where: str) -> TrainConfig:
    try:
        config = build_config(*layers)
        check_names(config)
    except GanforgeError as exc:
        raise GanforgeError(f"{where}: {exc}") from None
    return config


def plan_grid(settings: dict[str, Any], grid: dict[str, Any],
              source: str) -> list[tuple[TrainConfig, dict[str, Any]]]:
    axes = run_keys(grid, f"{source} grid")
    parsed = {key: parse_axis(key, values, f"{source} grid") for key, values in axes.items()}
    planned: list[tuple[TrainConfig, dict[str, Any]]] = []
    for combo in itertools.product(*([(key, entry) for entry in entries] for key, entries in parsed.items())):
        values = {key: entry.value for key, entry in combo}
        where = f"{source}, grid run " + ", ".join(f"{k}={v!r}" for k, v in values.items())
        overrides = merge_overrides(combo, where)
        planned.append((_resolve([settings, values, overrides], where), values))
    return planned


def plan_runs(raw: dict[str, Any], source: str, out: Path) -> tuple[PlannedRun, ...]:
    settings = run_keys(mapping(raw.get("settings"), f"{source} settings"), f"{source} settings")
    grid = mapping(raw.get("grid"), f"{source} grid")
    extra = raw.get("runs") or []
    if not isinstance(extra, list):
        raise GanforgeError(f"{source} runs must be a list of mappings, got {type(extra).__name__}")
    if not grid and not extra:
        raise GanforgeError(f"{source} defines no run: add grid: (e.g. grid: {{preset: [dcgan, wgan]}}) or runs:")
    named: list[tuple[str, TrainConfig, dict[str, Any]]] = []
    if grid:
        for config, axes in plan_grid(settings, grid, source):
            named.append((run_name(config, axes), config, axes))
    for index, item in enumerate(extra):
        where = f"{source} runs[{index}]"
        item = dict(mapping(item, where))
        name = item.pop(RUN_NAME_KEY, None)
        if name is not None and (not isinstance(name, str) or slug(name) != name):
            raise GanforgeError(f"{where}.name must be a folder-safe name (letters, digits, . + -), "
                                f"got {name!r}; try {slug(str(name))!r}")
        config = _resolve([settings, run_keys(item, where)], where)
        named.append((name or run_name(config, {"seed": config.seed}), config, {}))
    names = [name for name, _, _ in named]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise GanforgeError(f"{source}: several runs would share the folder {', '.join(clashes)}; give the extra "
                            "runs distinct name: keys or make the grid values differ")
    return tuple(PlannedRun(name, dataclasses.replace(config, run_dir=str(out / name)), axes)
                 for name, config, axes in named)


def check_metrics_apply(evaluation: EvaluationSpec, runs: tuple[PlannedRun, ...], source: str) -> None:
    """A metric that measures no run of the sweep is almost certainly a mistake: say so up front."""
    kinds = sorted({run.kind for run in runs})
    for kind, noun in KIND_NOUNS.items():
        unused = evaluation.metrics_for(kind)
        if unused and kind not in kinds:
            fitting = [spec.name for k in kinds for spec in kind_metrics(k) if spec.default]
            raise GanforgeError(f"{source}: metrics {', '.join(unused)} measure {noun}, but no run trains on "
                                f"{' or '.join(kind_sources(kind))}; use metrics: [{', '.join(fitting)}]")


def load_sweep(path: Path, out: Path | None = None) -> Sweep:
    """Read, validate and expand a sweep file; nothing is written."""
    path = Path(path)
    raw = read_sweep_file(path)
    check_keys(raw, TOP_KEYS, str(path))
    name, description, out = file_header(raw, path, out)
    metrics = parse_metrics(raw.get("metrics"), f"{path} metrics")
    raw_evaluation = mapping(raw.get("evaluation"), f"{path} evaluation")
    evaluation = parse_evaluation(raw_evaluation, metrics, f"{path} evaluation")
    runs = plan_runs(raw, str(path), out)
    check_metrics_apply(evaluation, runs, str(path))
    return Sweep(name=name, description=description, source=path, out=out, evaluation=evaluation, runs=runs,
                 floor=parse_floor(raw_evaluation, f"{path} evaluation"))
