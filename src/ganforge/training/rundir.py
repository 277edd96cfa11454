"""The run folder: every artifact of a training run in one place, named by contract."""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ganforge.config import CONFIG_FILE
from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write_text


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
    def augment_p_curve(self) -> Path:
        """ADA's p against step (--augment ada)."""
        return self.root / "augment_p.png"

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

    @property
    def final_samples(self) -> Path:
        return self.samples / "final.png"

    @property
    def finished_marker(self) -> Path:
        """checkpoints/finished.json: {"step": N} once the launch that reached step N wrote every artifact."""
        return self.checkpoints / "finished.json"

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

    def sample_grid(self, step: int) -> Path:
        return self.samples / f"step_{step:07d}.png"

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:07d}.pt"


def default_run_dir(model: str, data: str, base: Path = Path("runs")) -> Path:
    safe_data = re.sub(r"[^A-Za-z0-9_.-]+", "_", data).strip("_")[:40]
    return base / f"{model}-{safe_data}-{time.strftime('%Y%m%d-%H%M%S')}"


# What a start-up writes before its first checkpoint; a folder holding nothing else, with no checkpoint and
# no sample grid, was left by a start that never trained (a kill, a failed --eval-every set-up).
STARTUP_ENTRIES = frozenset({CONFIG_FILE, "history.csv", "tb", "samples", "checkpoints", "trackers.json",
                             "mlruns", "wandb"})
STARTUP_LEFTOVERS = ("history.csv", "tb")  # redone by the next start; config.yaml is rewritten


def never_started(root: Path) -> bool:
    """Whether ``root`` is a run folder whose start-up stopped before the first checkpoint: it has the
    config.yaml ganforge writes and only start-up files, no checkpoint and no sample grid. Such a folder
    is not "a run": the same command starts it again without --overwrite."""
    paths = RunPaths(root)
    if not paths.config.is_file():
        return False
    try:
        entries = {child.name for child in root.iterdir() if not child.name.startswith(".")}
    except OSError:
        return False
    if not entries <= STARTUP_ENTRIES:
        return False
    checkpoints = paths.checkpoints.is_dir() and any(paths.checkpoints.glob("*.pt"))
    samples = paths.samples.is_dir() and any(paths.samples.glob("*.png"))
    return not checkpoints and not samples


def clear_startup_leftovers(root: Path) -> None:
    """Remove what an interrupted start-up wrote and the next start writes again (history, TensorBoard)."""
    for name in STARTUP_LEFTOVERS:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def check_run_dir(root: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber work: validate the folder for a new, resumed or overwritten run; change nothing."""
    paths = RunPaths(root)
    if resume and overwrite:
        raise GanforgeError("--resume and --overwrite contradict each other; pass one of them")
    if resume:
        if never_started(root):
            raise GanforgeError(f"cannot resume {root}: its start-up stopped before the first checkpoint, so "
                                "there is nothing to continue; run the same command without --resume to "
                                "start it (the folder is reused)")
        if not paths.last_checkpoint.is_file():
            raise GanforgeError(f"cannot resume: {paths.last_checkpoint} does not exist; "
                                "start a new run (drop --resume)")
        return
    if root.exists() and not root.is_dir():
        raise GanforgeError(f"run folder {root} is a file; choose another --run-dir")
    if root.is_dir() and any(root.iterdir()) and not never_started(root):
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
