"""Training: the update (``update.Trainer``), the data feed (``feed``), a run with its folder (``run``),
its outputs (``loggers``, ``checkpoint``), and the speed and scale options (``precision``, ``accel``,
``distributed``)."""

from ganforge.runfolder import RunFolder
from ganforge.training.run import Callback, TrainingInterrupted, TrainingRun, TrainResult, train
from ganforge.training.update import Trainer

__all__ = ["Callback", "RunFolder", "TrainResult", "Trainer", "TrainingInterrupted", "TrainingRun", "train"]
