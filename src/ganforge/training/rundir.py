"""The run folder: every artifact of a training run in one place, named by contract."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ganforge.config import CONFIG_FILE
from ganforge.errors import GanforgeError


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

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
