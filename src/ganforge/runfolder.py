"""The run folder's layout: the one home of every name in it, and the small readers that go with them.

Training writes a run folder and every other command reads it (checkpoints, metrics, report, web, tune,
sweeps); all of them take its paths from :class:`RunFolder` and these constants, never from string
literals of their own, so a name changes here or nowhere (``tests/test_run_folder_names.py`` checks).
The names are a contract with every run folder already on disk: change one and old runs stop loading.

This module sits low in the import graph (only ``errors`` and ``fileio`` from ganforge): reading a run's
layout loads no training, model or metric code. The writer's lock is :mod:`ganforge.runlock`.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write_text

CONFIG_FILE = "config.yaml"  # every key resolved; a folder holding it is a run folder
HISTORY_FILE = "history.csv"  # one row per logged step (--log csv)
METRICS_FILE = "metrics.jsonl"  # one JSON object per evaluation, with its full protocol
TRACKERS_FILE = "trackers.json"  # run ids at MLflow / W&B, so a resumed run re-attaches to them
GENERATOR_SPEC_FILE = "generator.json"  # the generator's spec, step and config (models.io)
GENERATOR_WEIGHTS_FILE = "generator.safetensors"  # its weights, beside the spec
PROGRESS_GIF = "progress.gif"
LOSS_CURVES_FILE = "loss_curves.png"
AUGMENT_P_FILE = "augment_p.png"  # ADA's p against step (--augment ada)
LOCK_FILE = ".ganforge.lock"  # a dot file: never_started and the run listings skip it
SAMPLES_DIR = "samples"
FINAL_GRID_FILE = "final.png"  # in samples/
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT_FILE = "last.pt"  # in checkpoints/
BEST_CHECKPOINT_FILE = "best.pt"  # in checkpoints/
FINISHED_FILE = "finished.json"  # in checkpoints/: {"step": N}
BEST_DIR = "best"  # the best evaluation's generator folder (--eval-every)
TENSORBOARD_DIR = "tb"
MLFLOW_DIR = "mlruns"  # MLflow's local store, used when MLFLOW_TRACKING_URI names no other
WANDB_DIR = "wandb"

# Step files: samples/step_XXXXXXX.png and checkpoints/step_XXXXXXX.pt (at least 7 digits).
STEP_PREFIX = "step_"
CHECKPOINT_SUFFIX = ".pt"
GRID_SUFFIX = ".png"
STEP_CHECKPOINT_GLOB = f"{STEP_PREFIX}*{CHECKPOINT_SUFFIX}"
STEP_GRID_GLOB = f"{STEP_PREFIX}*{GRID_SUFFIX}"
STEP_CHECKPOINT = re.compile(rf"^{STEP_PREFIX}(\d{{7,}}){re.escape(CHECKPOINT_SUFFIX)}$")

# Every name above: what tests/test_run_folder_names.py keeps out of every other module.
FILE_NAMES = (CONFIG_FILE, HISTORY_FILE, METRICS_FILE, TRACKERS_FILE, GENERATOR_SPEC_FILE,
              GENERATOR_WEIGHTS_FILE, PROGRESS_GIF, LOSS_CURVES_FILE, AUGMENT_P_FILE, LOCK_FILE,
              FINAL_GRID_FILE, LAST_CHECKPOINT_FILE, BEST_CHECKPOINT_FILE, FINISHED_FILE,
              STEP_CHECKPOINT_GLOB, STEP_GRID_GLOB)
DIR_NAMES = (SAMPLES_DIR, CHECKPOINTS_DIR, BEST_DIR, TENSORBOARD_DIR, MLFLOW_DIR, WANDB_DIR)

# What a start-up writes before its first checkpoint; a folder holding nothing else, with no checkpoint and
# no sample grid, was left by a start that never trained (a kill, a failed --eval-every set-up).
STARTUP_ENTRIES = frozenset({CONFIG_FILE, HISTORY_FILE, TENSORBOARD_DIR, SAMPLES_DIR, CHECKPOINTS_DIR,
                             TRACKERS_FILE, MLFLOW_DIR, WANDB_DIR})
STARTUP_LEFTOVERS = (HISTORY_FILE, TENSORBOARD_DIR)  # redone by the next start; config.yaml is rewritten
INTERNAL_DIRS = frozenset({CHECKPOINTS_DIR, SAMPLES_DIR, TENSORBOARD_DIR})  # never a run of their own


def step_file_name(step: int, suffix: str) -> str:
    return f"{STEP_PREFIX}{step:07d}{suffix}"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder; nothing is read or created until asked."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def history(self) -> Path:
        return self.root / HISTORY_FILE

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def trackers(self) -> Path:
        return self.root / TRACKERS_FILE

    @property
    def generator_spec(self) -> Path:
        return self.root / GENERATOR_SPEC_FILE

    @property
    def generator_weights(self) -> Path:
        return self.root / GENERATOR_WEIGHTS_FILE

    @property
    def samples(self) -> Path:
        return self.root / SAMPLES_DIR

    @property
    def final_samples(self) -> Path:
        return self.samples / FINAL_GRID_FILE

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS_DIR

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / LAST_CHECKPOINT_FILE

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / BEST_CHECKPOINT_FILE

    @property
    def best(self) -> Path:
        """The best evaluation's generator folder (generator.json + weights), beside best.pt."""
        return self.root / BEST_DIR

    @property
    def finished_marker(self) -> Path:
        """checkpoints/finished.json: {"step": N} once the launch that reached step N wrote every artifact."""
        return self.checkpoints / FINISHED_FILE

    @property
    def tensorboard(self) -> Path:
        return self.root / TENSORBOARD_DIR

    @property
    def mlflow_store(self) -> Path:
        return self.root / MLFLOW_DIR

    @property
    def progress_gif(self) -> Path:
        return self.root / PROGRESS_GIF

    @property
    def loss_curves(self) -> Path:
        return self.root / LOSS_CURVES_FILE

    @property
    def augment_p_curve(self) -> Path:
        return self.root / AUGMENT_P_FILE

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    def generator_files(self) -> list[Path]:
        """generator.json and generator.safetensors, those on disk."""
        return [path for path in (self.generator_spec, self.generator_weights) if path.is_file()]

    def sample_grid(self, step: int) -> Path:
        return self.samples / step_file_name(step, GRID_SUFFIX)

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / step_file_name(step, CHECKPOINT_SUFFIX)

    def step_grids(self) -> list[Path]:
        """samples/step_XXXXXXX.png, oldest first."""
        return sorted(self.samples.glob(STEP_GRID_GLOB))

    def step_checkpoints(self) -> list[tuple[int, Path]]:
        """The periodic checkpoints (step, file), oldest first."""
        found = [(int(match[1]), path) for path in self.checkpoints.glob(STEP_CHECKPOINT_GLOB)
                 if (match := STEP_CHECKPOINT.match(path.name))]
        return sorted(found)

    def is_run(self) -> bool:
        """A ganforge run folder: it holds the config.yaml training writes first."""
        return self.config.is_file()

    def is_finished(self, step: int) -> bool:
        """Whether the run's launch that reached ``step`` got to its very end: the marker, written after
        every finished artifact (final grid, GIF, curves), names that step. A kill anywhere before that
        leaves the end still to do, and ``--resume`` does it."""
        try:
            document = json.loads(self.finished_marker.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(document, dict) and document.get("step") == step

    def mark_finished(self, step: int) -> None:
        atomic_write_text(self.finished_marker, json.dumps({"step": step}) + "\n")


def is_run_folder(path: Path) -> bool:
    return RunFolder(Path(path)).is_run()


def checkpoint_run(path: Path) -> Path | None:
    """The run folder of a checkpoint file inside ``RUN/checkpoints/``; None for a file anywhere else."""
    folder = Path(path).parent
    in_run = folder.name == CHECKPOINTS_DIR and Path(path).suffix == CHECKPOINT_SUFFIX
    return folder.parent if in_run else None


def read_config(path: Path) -> dict[str, Any]:
    """A run's config.yaml as written (a mapping of keys), or one line saying why it cannot be read."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise GanforgeError(f"cannot read {path}: {exc}; is this a ganforge run folder?") from None
    if not isinstance(raw, dict):
        raise GanforgeError(f"{path} is not a ganforge config (expected a mapping)")
    return raw


def read_history_columns(path: Path) -> dict[str, list[float]]:
    """history.csv -> column -> values (NaN for empty or unreadable cells); {} when there is no file."""
    columns: dict[str, list[float]] = {}
    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                for key, value in row.items():
                    if key is None:
                        continue
                    try:
                        number = float(value) if value not in ("", None) else math.nan
                    except ValueError:
                        number = math.nan
                    columns.setdefault(key, []).append(number)
    except OSError:
        return {}
    return columns


def never_started(root: Path) -> bool:
    """Whether ``root`` is a run folder whose start-up stopped before the first checkpoint: it has the
    config.yaml ganforge writes and only start-up files, no checkpoint and no sample grid. Such a folder
    is not "a run": the same command starts it again without --overwrite."""
    folder = RunFolder(root)
    if not folder.is_run():
        return False
    try:
        entries = {child.name for child in root.iterdir() if not child.name.startswith(".")}
    except OSError:
        return False
    if not entries <= STARTUP_ENTRIES:
        return False
    checkpoints = folder.checkpoints.is_dir() and any(folder.checkpoints.glob(f"*{CHECKPOINT_SUFFIX}"))
    samples = folder.samples.is_dir() and any(folder.samples.glob(f"*{GRID_SUFFIX}"))
    return not checkpoints and not samples


def clear_startup_leftovers(root: Path) -> None:
    """Remove what an interrupted start-up wrote and the next start writes again (history, TensorBoard)."""
    for name in STARTUP_LEFTOVERS:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
