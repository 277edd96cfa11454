"""What the experiment-tracker loggers share: the library import, run ids, config params, warnings.

The tracker libraries are optional extras and slow to import, so each logger imports its library in its
factory (``import_library``), never at module import time.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write_text
from ganforge.runfolder import RunFolder
from ganforge.training.loggers.base import RUN_ENDS, RunEnd


def import_library(name: str) -> ModuleType:
    """The tracker library ``name`` (also the ``--log`` value and the extra that installs it)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise GanforgeError(f"--log {name} needs the {name} package: pip install 'ganforge[{name}]'") from exc


def one_line(text: object) -> str:
    """A library's (possibly multi-line) message on one line."""
    return " ".join(str(text).split())


def checked_end(status: str) -> RunEnd:
    if status not in RUN_ENDS:
        raise ValueError(f"a run ends as one of {', '.join(RUN_ENDS)}, not {status!r}")
    return status  # type: ignore[return-value]


def saved_run(run_dir: Path, tracker: str) -> dict[str, Any] | None:
    """What ``save_run`` recorded for ``tracker`` in this run folder (None: nothing yet)."""
    path = RunFolder(run_dir).trackers
    if not path.is_file():
        return None
    entry = json.loads(path.read_text()).get(tracker)
    return entry if isinstance(entry, dict) else None


def save_run(run_dir: Path, tracker: str, entry: dict[str, Any]) -> None:
    """Record ``tracker``'s run (its id and where it lives) in trackers.json, next to the other trackers'."""
    path = RunFolder(run_dir).trackers
    runs = json.loads(path.read_text()) if path.is_file() else {}
    runs[tracker] = entry
    atomic_write_text(path, json.dumps(runs, indent=2, sort_keys=True) + "\n")


def flat_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as flat ``a.b`` keys with text values (trackers' params are strings).

    Non-text values are written as JSON, so ``null``/``true``/``[0.5, 0.999]`` read back as YAML would.
    """
    params: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:  # an empty one (no --schedule) stays a param: "{}"
            params.update(flat_params(value, f"{name}."))
        else:
            params[name] = value if isinstance(value, str) else json.dumps(value)
    return params


class WarningsFromLog(logging.Handler):
    """Re-emits a library logger's warnings and errors as one-line Python warnings.

    ``attach`` also takes the logger's console handlers off (the library prints nothing itself);
    ``detach`` puts them back. ``strip`` removes the library's own prefix ("wandb: WARNING ").
    """

    def __init__(self, logger_name: str, label: str, strip: str = "") -> None:
        super().__init__(logging.WARNING)
        self.logger = logging.getLogger(logger_name)
        self.label = label
        self.strip = re.compile(strip) if strip else None
        self._console: list[logging.Handler] = []
        self._propagate = self.logger.propagate

    def emit(self, record: logging.LogRecord) -> None:
        text = one_line(record.getMessage())
        if self.strip is not None:
            text = self.strip.sub("", text, count=1)
        warnings.warn(f"{self.label}: {text}", UserWarning, stacklevel=2)

    def attach(self) -> None:
        if self in self.logger.handlers:
            return
        self._console = [handler for handler in self.logger.handlers
                         if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)]
        for handler in self._console:
            self.logger.removeHandler(handler)
        self.logger.addHandler(self)
        self._propagate = self.logger.propagate
        self.logger.propagate = False  # the records end here, not also in the root logger's handlers

    def detach(self) -> None:
        self.logger.removeHandler(self)
        for handler in self._console:
            self.logger.addHandler(handler)
        self._console = []
        self.logger.propagate = self._propagate
