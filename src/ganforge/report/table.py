"""The comparison table as plain strings, shared by the HTML, Markdown and terminal renderings.

Missing values are an em dash, never an error: runs evaluated with fewer metrics (or not at all) sit in the
same table as the others. Each row carries a protocol label (P1, P2...) whose legend spells out N real /
N fake, the feature extractor and the reference, because metric values are only comparable under one
protocol.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ganforge.metrics.floor import Floor
from ganforge.metrics.specs import (
    LOWER,
    MISSING,
    MetricSpec,
    MetricValue,
    describe_protocol_parts,
    ranking_metrics,
    show_value,
    specs,
)
from ganforge.report.collect import RunSummary


class Measured(Protocol):
    """What a table row's values come from: a run's latest evaluation, or a real-data floor."""

    @property
    def values(self) -> Mapping[str, float | None]: ...

    @property
    def protocols(self) -> Mapping[str, Mapping[str, Any]]: ...


def metric_columns(runs: list[RunSummary]) -> list[tuple[MetricSpec, MetricValue]]:
    """The registry's column values for the data kinds of ``runs``: each kind's standard metrics (in
    ``all`` or its default), plus opt-in ones (FD_digits) that some run measured."""
    kinds = {run.kind for run in runs}
    columns: list[tuple[MetricSpec, MetricValue]] = []
    for spec in specs():
        measured = any(key in run.values for run in runs for key in spec.keys)
        if spec.data_kind in kinds and (spec.in_all or spec.default or measured):
            columns += [(spec, value) for value in spec.columns]
    return columns


def duration(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


# -- protocols --------------------------------------------------------------------------------------

def describe_protocol(protocol: Mapping[str, Any]) -> str:
    """One line: N fake / N real, extractor (weights hash), reference, resize, and what the metrics add
    (KID subsets, the PacGAN 2-D rules)."""
    if not protocol:
        return "not recorded"
    unit = protocol.get("unit")
    parts = [f"N fake {protocol.get('num_fake', '?')}" + (f" {unit}" if unit else "")]
    if "num_real" in protocol:
        parts[0] += f" / N real {protocol['num_real']}"
    extractor = protocol.get("feature_extractor")
    if extractor:
        sha = str(protocol.get("weights_sha256") or "")[:8]
        parts.append(f"{extractor}" + (f" [weights {sha}]" if sha else ""))
    reference = protocol.get("reference_dataset") or protocol.get("reference_path") or protocol.get("reference")
    if reference:
        details = [str(protocol[k]) for k in ("reference_split",) if protocol.get(k)]
        if protocol.get("reference_resolution"):
            details.append(f"{protocol['reference_resolution']}px")
        parts.append(f"reference {reference}" + (f" ({', '.join(details)})" if details else ""))
    if protocol.get("resize"):
        parts.append(f"resize {protocol['resize']}")
    described = describe_protocol_parts(protocol)
    parts += described
    name = protocol.get("name")
    if name and not extractor and not described:
        parts.append(str(name))
    return "; ".join(parts)


def run_protocols(run: Measured) -> list[str]:
    """The distinct protocol descriptions behind a run's (or a floor's) values (usually one)."""
    texts: list[str] = []
    for key in run.values:
        text = describe_protocol(run.protocols.get(key, {}))
        if text not in texts:
            texts.append(text)
    return texts


def protocol_warnings(run: Measured, description: str) -> list[str]:
    """Warnings recorded with the measurements that follow ``description``."""
    notes: list[str] = []
    for key in run.values:
        protocol = run.protocols.get(key, {})
        if describe_protocol(protocol) == description:
            for note in protocol.get("warnings") or []:
                if str(note) not in notes:
                    notes.append(str(note))
    return notes


@dataclass(frozen=True)
class Best:
    dataset: str
    run: str
    reason: str  # which metric decided, with its value
    note: str = ""  # e.g. protocols differ
    runs: tuple[str, ...] = ()  # the runs that get the star when ``run`` names a group (a study's trial)

    @property
    def starred(self) -> tuple[str, ...]:
        return self.runs or (self.run,)


def rank_key(spec: MetricSpec, run: RunSummary) -> tuple[float, ...] | None:
    """What ``spec`` minimises to rank ``run`` (its rank_by values, each signed by its direction); None when
    the run lacks the first of them. A later value that is missing or undefined ranks last."""
    first = run.values.get(spec.rank_by[0])
    if first is None or not math.isfinite(first):
        return None
    key: list[float] = []
    for name in spec.rank_by:
        number = run.values.get(name)
        if number is None or not math.isfinite(number):
            key.append(math.inf)
        else:
            key.append(number if spec.value(name).better == LOWER else -number)
    return tuple(key)


def either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def ranking_reason(spec: MetricSpec, earlier: list[MetricSpec], winner: RunSummary) -> str:
    """'lowest KID (no FID measured): 0.02': which metric decided, why that one, and the winner's value."""
    wording = ", then ".join(spec.value(name).phrase for name in spec.rank_by)
    notes = [spec.note] if spec.note else []
    if earlier:
        notes.append(f"no {either([other.value(other.rank_by[0]).label for other in earlier])} measured")
    if notes:
        wording += f" ({'; '.join(notes)})"
    if len(spec.rank_by) == 1:
        return f"{wording}: {winner.values[spec.rank_by[0]]:.4g}"
    shown = [f"{spec.value(name).label} {show_value(spec, spec.value(name), winner.values)}" for name in spec.rank_by]
    return f"{wording}: {', '.join(shown)}"


def ranked(spec: MetricSpec, group: list[RunSummary]) -> list[tuple[tuple[float, ...], int, RunSummary]]:
    scored = [(rank_key(spec, run), i, run) for i, run in enumerate(group)]
    return [(key, i, run) for key, i, run in scored if key is not None]


def dissent(group: list[RunSummary], winner: RunSummary, later: list[MetricSpec]) -> list[str]:
    """Say so when a less trusted metric (KID: unbiased at small N, unlike FID) prefers another run."""
    notes = []
    for spec in later:
        scored = ranked(spec, group)
        if not scored or rank_key(spec, winner) is None:
            continue
        _, _, best = min(scored, key=lambda item: (item[0], item[1]))
        if best is not winner:
            value = spec.value(spec.rank_by[0])
            notes.append(f"{value.label} ranks {best.name} first ({best.values[value.key]:.4g} vs "
                         f"{winner.values[value.key]:.4g})")
    return notes


def best_runs(runs: list[RunSummary]) -> tuple[list[Best], list[str]]:
    """The best run of each dataset, decided by the most trusted ranking metric of its data kind that any
    of its runs measured, and the datasets no metric could rank."""
    datasets: dict[str, list[RunSummary]] = {}
    for run in runs:
        datasets.setdefault(run.dataset, []).append(run)
    best: list[Best] = []
    unranked: list[str] = []
    for dataset, group in datasets.items():
        rules = ranking_metrics(group[0].kind)
        for position, spec in enumerate(rules):
            scored = ranked(spec, group)
            if not scored:
                continue
            _, _, winner = min(scored, key=lambda item: (item[0], item[1]))
            first = spec.rank_by[0]
            protocols = {describe_protocol(r.protocols.get(first, {})) for _, _, r in scored}
            notes = ["measured under different protocols: values are not strictly comparable"] if len(protocols) > 1 else []
            if len(scored) < len(group):
                notes.append(f"{len(group) - len(scored)} run(s) without {spec.name} not ranked")
            notes += dissent(group, winner, rules[position + 1:])
            best.append(Best(dataset, winner.name, ranking_reason(spec, rules[:position], winner), "; ".join(notes)))
            break
        else:
            unranked.append(dataset)
    return best, unranked


# -- the table --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    best: list[bool]  # per row: the best run of its dataset
    floor: list[bool]  # per row: a real-data floor, not a run
    protocols: list[str]  # legend: label i+1 -> description
    warnings: list[list[str]]  # per protocol: what the metrics warned about (too few samples...)


def protocol_labels(measured: Measured, legend: list[str], warnings: list[list[str]]) -> list[str]:
    """'P1' for each protocol behind ``measured``, adding new ones (and their warnings) to the legend."""
    labels = []
    for text in run_protocols(measured):
        if text not in legend:
            legend.append(text)
            warnings.append([])
        labels.append(f"P{legend.index(text) + 1}")
        for note in protocol_warnings(measured, text):
            if note not in warnings[legend.index(text)]:
                warnings[legend.index(text)].append(note)
    return labels


def build_table(runs: list[RunSummary], best: list[Best], floors: Sequence[Floor] = ()) -> Table:
    """One row per run, then one per real-data floor (its dataset's real images under the same protocol)."""
    columns = metric_columns(runs)
    header = ["run", "model", "dataset", "loss", "steps", "wall time", "img/s"]
    header += [value.label for _, value in columns]
    header.append("protocol")
    winners = {(b.dataset, name) for b in best for name in b.starred}
    legend: list[str] = []
    warnings: list[list[str]] = []
    rows: list[list[str]] = []
    for run in runs:
        cells = [run.name, run.model_label, run.dataset, str(run.config.get("loss", MISSING)),
                 str(run.step) if run.step is not None else MISSING, duration(run.seconds),
                 f"{run.images_per_s:.0f}" if run.images_per_s else MISSING]
        cells += [show_value(spec, value, run.values) for spec, value in columns]
        labels = protocol_labels(run, legend, warnings)
        if run.eval_step is not None and run.step is not None and run.eval_step != run.step:
            labels.append(f"(at step {run.eval_step})")
        cells.append(" ".join(labels) or MISSING)
        rows.append(cells)
    for floor in floors:
        cells = [floor.label, "real images", floor.request.data, *[MISSING] * 4]
        cells += [show_value(spec, value, floor.values) for spec, value in columns]
        cells.append(" ".join(protocol_labels(floor, legend, warnings)) or MISSING)
        rows.append(cells)
    return Table(header, rows, [(r.dataset, r.name) in winners for r in runs] + [False] * len(floors),
                 [False] * len(runs) + [True] * len(floors), legend, warnings)


def floor_note(floors: Sequence[Floor]) -> str:
    """The table legend's sentence on its real-data rows ('' without any)."""
    if not floors:
        return ""
    inside = any(f.request.reference in (None, f.request.data) and f.request.reference_samples is None for f in floors)
    return (" Real data rows: images drawn with a fixed seed from the dataset's training set, scored exactly like "
            "a run's samples (same metrics, reference and N)" +
            ("; they are part of the whole-training-set reference, so a row is what a generator reproducing "
             "training images would score" if inside else "") + ".")


def text_rows(header: list[str], rows: list[list[str]]) -> str:
    """Aligned columns for the terminal."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)


def text_table(table: Table) -> str:
    """Aligned columns for the terminal; the best run of each dataset is starred."""
    rows = [["*" if best else "", *row] for row, best in zip(table.rows, table.best, strict=True)]
    return text_rows(["", *table.header], rows)
