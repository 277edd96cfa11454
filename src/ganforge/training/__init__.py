"""The training loop, checkpoints and the run folder."""

from ganforge.training.loop import Callback, Trainer, TrainingInterrupted, TrainingRun, TrainResult, train
from ganforge.training.rundir import RunPaths

__all__ = ["Callback", "RunPaths", "TrainResult", "Trainer", "TrainingInterrupted", "TrainingRun", "train"]
