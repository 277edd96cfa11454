"""The run folder: every artifact of a training run in one place, named by contract."""

from __future__ import annotations

import csv
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_path

HISTORY_COLUMNS = ("step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "lr", "seconds", "images_per_s")


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tb"

    @property
    def progress_gif(self) -> Path:
        return self.root / "progress.gif"

    @property
    def loss_curves(self) -> Path:
        return self.root / "loss_curves.png"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def trackers(self) -> Path:
        """Run ids at the experiment trackers (MLflow, W&B), so a resumed run re-attaches to them."""
        return self.root / "trackers.json"

    @property
    def mlflow_store(self) -> Path:
        """MLflow's local tracking store, used when MLFLOW_TRACKING_URI names no other."""
        return self.root / "mlruns"

    def sample_grid(self, step: int) -> Path:
        return self.samples / f"step_{step:07d}.png"

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:07d}.pt"


def default_run_dir(model: str, data: str, base: Path = Path("runs")) -> Path:
    safe_data = re.sub(r"[^A-Za-z0-9_.-]+", "_", data).strip("_")[:40]
    return base / f"{model}-{safe_data}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_run_dir(root: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber work: validate the folder for a new, resumed or overwritten run; change nothing."""
    paths = RunPaths(root)
    if resume and overwrite:
        raise GanforgeError("--resume and --overwrite contradict each other; pass one of them")
    if resume:
        if not paths.last_checkpoint.is_file():
            raise GanforgeError(f"cannot resume: {paths.last_checkpoint} does not exist; "
                                "start a new run (drop --resume)")
        return
    if root.exists() and not root.is_dir():
        raise GanforgeError(f"run folder {root} is a file; choose another --run-dir")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise GanforgeError(f"run folder {root} already exists and is not empty; pass --resume to "
                                "continue it, --overwrite to replace it, or another --run-dir")
        if not paths.config.is_file():
            raise GanforgeError(f"refusing to --overwrite {root}: it has no config.yaml, so it is not a "
                                "ganforge run folder; choose another --run-dir")


def clear_run_dir(root: Path) -> None:
    """Empty a run folder that check_run_dir accepted for --overwrite."""
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


class HistoryWriter:
    """Appends rows to history.csv, flushing each so a crash loses nothing already logged."""

    def __init__(self, path: Path, columns: tuple[str, ...], resume_step: int | None = None,
                 keep_row=None) -> None:
        self.path = path
        self.columns = columns
        if resume_step is None or not path.is_file():
            with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
                csv.writer(handle).writerow(columns)
        else:
            self._truncate(resume_step, keep_row)
        self._handle = open(path, "a", newline="")  # noqa: SIM115 - held open for the whole run
        self._writer = csv.DictWriter(self._handle, fieldnames=columns, restval="", extrasaction="ignore")

    def _truncate(self, resume_step: int, keep_row) -> None:
        """Drop rows logged after the checkpoint we resume from; they will be logged again."""
        with open(self.path, newline="") as handle:
            rows = [row for row in csv.DictReader(handle)
                    if int(row["step"]) <= resume_step and (keep_row is None or keep_row(row))]
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, restval="", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, object]) -> None:
        self._writer.writerow(row)
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()
