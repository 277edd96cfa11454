"""history.csv: one row per logged step, a column per scalar, flushed row by row (``--log csv``).

Columns are not declared in advance: the standard ones come first, and a key that appears for the first
time (a penalty, a metric at the first evaluation) becomes a new column, the file rewritten once with the
wider header (earlier rows get an empty cell). A resumed run keeps the file's columns and drops the rows
logged after the checkpoint it continues from; they are logged again.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

from ganforge.fileio import atomic_path
from ganforge.training.loggers.base import LoggerBase, LoggerContext, RunEnd

HISTORY_COLUMNS = ("step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "lr", "seconds", "images_per_s")
# history.csv's one learning-rate column, older than per-player rates, is G's; D's goes to TensorBoard.
COLUMN_OF = {"lr_g": "lr"}
NOT_IN_HISTORY = frozenset({"lr_d"})


class HistoryCsv(LoggerBase):
    def __init__(self, path: Path, resume_step: int | None = None, resume_window_open: bool = False) -> None:
        self.path = path
        self.columns = list(HISTORY_COLUMNS)
        rows: list[dict[str, str]] = []
        if resume_step is not None and path.is_file():
            header, rows = self._read()
            self.columns += [c for c in header if c not in self.columns]
            # The final, partial row at the checkpoint step is reported again after resume; any other row at
            # that step (a log-grid row, an evaluation's row off the grid) was written before the checkpoint.
            rows = [row for row in rows if int(row["step"]) < resume_step
                    or (int(row["step"]) == resume_step and not resume_window_open)]
        self._rewrite(rows)

    def _read(self) -> tuple[list[str], list[dict[str, str]]]:
        with open(self.path, newline="") as handle:
            reader = csv.DictReader(handle)
            return list(reader.fieldnames or ()), list(reader)

    def _rewrite(self, rows: list[dict[str, str]]) -> None:
        """The file with the current header and ``rows``, replaced atomically, then held open to append."""
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
        self._handle = open(self.path, "a", newline="")  # noqa: SIM115 - held open for the whole run
        self._writer = csv.DictWriter(self._handle, fieldnames=self.columns, restval="")

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        row: dict[str, object] = {"step": step}
        row.update((COLUMN_OF.get(key, key), value) for key, value in values.items() if key not in NOT_IN_HISTORY)
        new = [key for key in row if key not in self.columns]
        if new:
            self._handle.close()
            _, rows = self._read()
            self.columns += new
            self._rewrite(rows)
        self._writer.writerow(row)
        self._handle.flush()

    def close(self, status: RunEnd = "finished") -> None:
        self._handle.close()


def history_logger(context: LoggerContext) -> HistoryCsv:
    return HistoryCsv(context.paths.history, context.resume_step, context.resume_window_open)
