"""The comparison table as plain strings, shared by the HTML, Markdown and terminal renderings.

Missing values are an em dash, never an error: runs evaluated with fewer metrics (or not at all) sit in the
same table as the others. Each row carries a protocol label (P1, P2...) whose legend spells out N real /
N fake, the feature extractor and the reference, because metric values are only comparable under one
protocol.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ganforge.config import data_kind
from ganforge.report.collect import RunSummary

MISSING = "—"
IMAGE_COLUMNS = ("IS", "FID", "KID", "precision", "recall", "density", "coverage")
TOY2D_COLUMNS = ("modes", "HQ", "reverse KL")


def _fixed(digits: int) -> Callable[[float], str]:
    return lambda v: f"{v:.{digits}f}"


def with_std(values: dict[str, float | None], key: str, fmt: Callable[[float], str]) -> str:
    value = values.get(key)
    if value is None:
        return MISSING
    std = values.get(f"{key}_std")
    return f"{fmt(value)} ± {fmt(std)}" if std is not None else fmt(value)


def plain(values: dict[str, float | None], key: str, fmt: Callable[[float], str]) -> str:
    value = values.get(key)
    return MISSING if value is None else fmt(value)


IMAGE_CELLS: dict[str, Callable[[dict[str, float | None]], str]] = {
    "IS": lambda v: with_std(v, "is", _fixed(2)),
    "FID": lambda v: plain(v, "fid", _fixed(2)),
    "KID": lambda v: with_std(v, "kid", _fixed(4)),
    "precision": lambda v: plain(v, "precision", _fixed(3)),
    "recall": lambda v: plain(v, "recall", _fixed(3)),
    "density": lambda v: plain(v, "density", _fixed(3)),
    "coverage": lambda v: plain(v, "coverage", _fixed(3)),
    "FD_digits": lambda v: plain(v, "fd_digits", _fixed(2)),
}
# Shown only when some run has it: a digits-only monitor, not one of the field's standard columns.
OPTIONAL_IMAGE_COLUMNS = {"FD_digits": "fd_digits"}


def modes_cell(values: dict[str, float | None]) -> str:
    modes, total = values.get("modes"), values.get("num_modes")
    if modes is None:
        return MISSING
    return f"{modes:.0f}/{total:.0f}" if total is not None else f"{modes:.0f}"


TOY2D_CELLS: dict[str, Callable[[dict[str, float | None]], str]] = {
    "modes": modes_cell,
    "HQ": lambda v: plain(v, "high_quality", lambda x: f"{100 * x:.1f}%"),
    "reverse KL": lambda v: plain(v, "reverse_kl", _fixed(3)),
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


# -- protocols --------------------------------------------------------------------------------------

def describe_protocol(protocol: dict[str, Any]) -> str:
    """One line: N fake / N real, extractor (weights hash), reference; toy2d: its named protocol."""
    if not protocol:
        return "not recorded"
    name = protocol.get("name")
    if name == "pacgan-2d":
        return (f"N fake {protocol.get('num_fake', '?')} points; PacGAN 2-D protocol (high quality = within 3 std "
                "of the nearest mode; reverse KL over modes)")
    parts = [f"N fake {protocol.get('num_fake', '?')}"]
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
    if protocol.get("kid_subset_size"):
        parts.append(f"KID subsets {protocol.get('kid_subsets')}x{protocol['kid_subset_size']}")
    if name and not extractor:
        parts.append(str(name))
    return "; ".join(parts)


def run_protocols(run: RunSummary) -> list[str]:
    """The distinct protocol descriptions behind a run's values (usually one)."""
    texts: list[str] = []
    for key in run.values:
        text = describe_protocol(run.protocols.get(key, {}))
        if text not in texts:
            texts.append(text)
    return texts


def protocol_warnings(run: RunSummary, description: str) -> list[str]:
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


def _rank_rules() -> list[tuple[str, str, Callable[[RunSummary], tuple | None]]]:
    """(metric, wording, key to minimise) in order of preference: the first metric any run of a dataset has
    decides for that dataset."""

    def value(key: str, sign: float = 1.0) -> Callable[[RunSummary], tuple | None]:
        def get(run: RunSummary) -> tuple | None:
            v = run.values.get(key)
            return None if v is None or not math.isfinite(v) else (sign * v,)
        return get

    def toy(run: RunSummary) -> tuple | None:
        modes, kl = run.values.get("modes"), run.values.get("reverse_kl")
        if modes is None:
            return None
        return (-modes, kl if kl is not None else math.inf)

    return [("fid", "lowest FID", value("fid")), ("kid", "lowest KID (no FID measured)", value("kid")),
            ("fd_digits", "lowest FD_digits (digit-classifier features, not FID; no FID or KID measured)",
             value("fd_digits")),
            ("modes", "most modes captured, then lowest reverse KL (PacGAN 2-D)", toy)]


def kid_dissent(group: list[RunSummary], winner: RunSummary) -> str:
    """Say so when KID (unbiased at small N, unlike FID) prefers another run than FID does."""
    kids = [(run.values["kid"], run) for run in group if run.values.get("kid") is not None]
    if not kids or winner.values.get("kid") is None:
        return ""
    best_kid, best = min(kids, key=lambda item: item[0])
    if best is winner:
        return ""
    return f"KID ranks {best.name} first ({best_kid:.4g} vs {winner.values['kid']:.4g})"


def best_runs(runs: list[RunSummary]) -> tuple[list[Best], list[str]]:
    """The best run of each dataset and the datasets no metric could rank."""
    datasets: dict[str, list[RunSummary]] = {}
    for run in runs:
        datasets.setdefault(run.dataset, []).append(run)
    best: list[Best] = []
    unranked: list[str] = []
    for dataset, group in datasets.items():
        for metric, wording, key in _rank_rules():
            scored = [(key(run), i, run) for i, run in enumerate(group) if key(run) is not None]
            if not scored:
                continue
            _, _, winner = min(scored, key=lambda item: (item[0], item[1]))
            shown = winner.values.get(metric)
            reason = f"{wording}: {shown:.4g}" if metric != "modes" else \
                f"{wording}: {modes_cell(winner.values)} modes, reverse KL {plain(winner.values, 'reverse_kl', _fixed(3))}"
            protocols = {describe_protocol(r.protocols.get(metric, {})) for _, _, r in scored}
            note = "measured under different protocols: values are not strictly comparable" if len(protocols) > 1 else ""
            if len(scored) < len(group):
                note = "; ".join(filter(None, [note, f"{len(group) - len(scored)} run(s) without {metric} not ranked"]))
            if metric == "fid":
                note = "; ".join(filter(None, [note, kid_dissent(group, winner)]))
            best.append(Best(dataset, winner.name, reason, note))
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
    protocols: list[str]  # legend: label i+1 -> description
    warnings: list[list[str]]  # per protocol: what the metrics warned about (too few samples...)


def build_table(runs: list[RunSummary], best: list[Best]) -> Table:
    kinds = {data_kind(r.dataset) for r in runs}
    header = ["run", "model", "dataset", "loss", "steps", "wall time", "img/s"]
    image_columns = list(IMAGE_COLUMNS) + [column for column, key in OPTIONAL_IMAGE_COLUMNS.items()
                                           if any(key in run.values for run in runs)]
    if "image" in kinds:
        header += image_columns
    if "toy2d" in kinds:
        header += TOY2D_COLUMNS
    header.append("protocol")
    winners = {(b.dataset, b.run) for b in best}
    legend: list[str] = []
    warnings: list[list[str]] = []
    rows: list[list[str]] = []
    for run in runs:
        cells = [run.name, run.model_label, run.dataset, str(run.config.get("loss", MISSING)),
                 str(run.step) if run.step is not None else MISSING, duration(run.seconds),
                 f"{run.images_per_s:.0f}" if run.images_per_s else MISSING]
        if "image" in kinds:
            cells += [IMAGE_CELLS[c](run.values) for c in image_columns]
        if "toy2d" in kinds:
            cells += [TOY2D_CELLS[c](run.values) for c in TOY2D_COLUMNS]
        labels = []
        for text in run_protocols(run):
            if text not in legend:
                legend.append(text)
                warnings.append([])
            labels.append(f"P{legend.index(text) + 1}")
            for note in protocol_warnings(run, text):
                if note not in warnings[legend.index(text)]:
                    warnings[legend.index(text)].append(note)
        if run.eval_step is not None and run.step is not None and run.eval_step != run.step:
            labels.append(f"(at step {run.eval_step})")
        cells.append(" ".join(labels) or MISSING)
        rows.append(cells)
    return Table(header, rows, [(r.dataset, r.name) in winners for r in runs], legend, warnings)


def text_table(table: Table) -> str:
    """Aligned columns for the terminal; the best run of each dataset is starred."""
    header = ["", *table.header]
    rows = [["*" if best else "", *row] for row, best in zip(table.rows, table.best, strict=True)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)
