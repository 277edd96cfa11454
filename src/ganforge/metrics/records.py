"""Reading what a run folder says about itself: metrics.jsonl records, generator.json, config.yaml.

Readers here never raise on a damaged line or a missing file: a report or a resumed sweep must work on
the folders of killed runs, whose last metrics line may be half written.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganforge.data.base import POINTS
from ganforge.fileio import read_jsonl
from ganforge.metrics.specs import METRICS, find_value, legacy_protocol, value_keys
from ganforge.runfolder import RunFolder

# Data kinds as metrics.jsonl of older versions named them.
LEGACY_KINDS = {"toy2d": POINTS}


@dataclass(frozen=True)
class MetricRecord:
    """One evaluation: the step it measured, its values and the protocol they follow."""

    step: int | None
    kind: str
    values: dict[str, float | None]
    protocol: dict[str, Any]
    raw: dict[str, Any]

    @property
    def num_fake(self) -> int | None:
        value = self.protocol.get("num_fake", self.raw.get("samples"))
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def has(self, metric: str) -> bool:
        """Whether this record measured ``metric`` (a registered name): it holds each of its column values."""
        keys = [value.key for value in METRICS.get(metric).columns] if metric in METRICS else [metric]
        return all(key in self.values for key in keys)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def parse_record(raw: dict[str, Any]) -> MetricRecord:
    """Values may sit at the top level (``{"fid": 12.3, "protocol": {...}}``) or under ``values``/``metrics``."""
    values: dict[str, float | None] = {}
    sources = [raw] + [raw[key] for key in ("values", "metrics") if isinstance(raw.get(key), dict)]
    for source in sources:
        for key in value_keys():
            if key in source:
                values[key] = _number(source[key])  # None keeps "measured but undefined" (reverse KL)
    protocol = raw.get("protocol")
    if isinstance(protocol, str):  # older toy2d records named their protocol ("pacgan-2d")
        protocol = legacy_protocol(protocol, raw.get("samples"))
    step = raw.get("step")
    kind = raw.get("kind")
    if not isinstance(kind, str) or not kind:
        found = find_value(next(iter(values), ""))
        kind = found[0].data_kind if found else ""
    return MetricRecord(step=int(step) if isinstance(step, int) and not isinstance(step, bool) else None,
                        kind=LEGACY_KINDS.get(kind, kind), values=values,
                        protocol=dict(protocol) if isinstance(protocol, dict) else {}, raw=raw)


def last_finite(values: list[float]) -> float | None:
    """The last finite value of a logged column (NaN marks a row without it), or None."""
    finite = [v for v in values if math.isfinite(v)]
    return finite[-1] if finite else None


def read_metric_records(path: Path) -> list[MetricRecord]:
    """Every well-formed line of metrics.jsonl in file order; damaged or foreign lines are skipped."""
    return [parse_record(raw) for raw in read_jsonl(path)]


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None


def generator_step(run_dir: Path) -> int | None:
    """The step of the generator saved with the last checkpoint (generator.json), None before the first."""
    document = read_json(RunFolder(Path(run_dir)).generator_spec)
    step = document.get("step") if document else None
    return step if isinstance(step, int) and not isinstance(step, bool) else None
