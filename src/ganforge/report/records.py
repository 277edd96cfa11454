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

# Values a metrics.jsonl record may carry, in the order reports show them.
IMAGE_METRIC_KEYS = ("is", "is_std", "fid", "kid", "kid_std", "precision", "recall", "density", "coverage",
                     "fd_digits")
TOY2D_METRIC_KEYS = ("modes", "num_modes", "high_quality", "reverse_kl")
METRIC_KEYS = IMAGE_METRIC_KEYS + TOY2D_METRIC_KEYS
# Metric name (sweep files, --metrics) -> the record keys that say it was measured.
METRIC_RECORD_KEYS = {"fid": ("fid",), "kid": ("kid",), "is": ("is",), "pr": ("precision", "recall"),
                      "dc": ("density", "coverage"), "fd_digits": ("fd_digits",), "toy2d": ("modes", "high_quality")}


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
        return all(key in self.values for key in METRIC_RECORD_KEYS.get(metric, (metric,)))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def parse_record(raw: dict[str, Any]) -> MetricRecord:
    """Values may sit at the top level (``{"fid": 12.3, "protocol": {...}}``) or under ``values``/``metrics``."""
    values: dict[str, float | None] = {}
    sources = [raw] + [raw[key] for key in ("values", "metrics") if isinstance(raw.get(key), dict)]
    for source in sources:
        for key in METRIC_KEYS:
            if key in source:
                values[key] = _number(source[key])  # None keeps "measured but undefined" (reverse KL)
    protocol = raw.get("protocol")
    if isinstance(protocol, str):  # toy2d records name their protocol ("pacgan-2d")
        protocol = {"name": protocol, "num_fake": raw.get("samples")}
    step = raw.get("step")
    return MetricRecord(step=int(step) if isinstance(step, int) and not isinstance(step, bool) else None,
                        kind=str(raw.get("kind", "image" if "fid" in values else "")),
                        values=values, protocol=dict(protocol) if isinstance(protocol, dict) else {}, raw=raw)


def read_metric_records(path: Path) -> list[MetricRecord]:
    """Every well-formed line of metrics.jsonl in file order; damaged or foreign lines are skipped."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(raw, dict):
            records.append(parse_record(raw))
    return records


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None


def generator_step(run_dir: Path) -> int | None:
    """The step of the generator saved with the last checkpoint (generator.json), None before the first."""
    document = read_json(Path(run_dir) / "generator.json")
    step = document.get("step") if document else None
    return step if isinstance(step, int) and not isinstance(step, bool) else None
