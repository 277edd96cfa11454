"""The Markdown report: GitHub-flavoured tables, PNGs linked from a folder written next to the file."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from ganforge.metrics.specs import MISSING
from ganforge.report.table import floor_note

if TYPE_CHECKING:
    from ganforge.report.build import ReportContent


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def link(folder: str, name: str) -> str:
    return quote(f"{folder}/{name}")


def render_markdown(content: ReportContent, folder: str) -> str:
    table = content.table
    lines = [f"# {content.title}", "", f"_Generated {content.generated}._", ""]
    if content.description:
        lines += [content.description, ""]
    for section in content.sections:
        lines += [f"## {section.title}", "", section.intro, ""]
        if section.rows:
            lines.append("| " + " | ".join(cell(h) for h in section.header) + " |")
            lines.append("|" + "|".join(":--" for _ in section.header) + "|")
            lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in section.rows]
        else:
            lines.append("None yet.")
        lines.append("")
    lines += ["## Results", ""]
    for best in content.best:
        note = f" ({best.note})" if best.note else ""
        lines.append(f"- Best on **{cell(best.dataset)}**: **{cell(best.run)}** — decided by {best.reason}{note}")
    for dataset in content.unranked:
        lines.append(f"- {dataset}: no metric measured, runs not ranked")
    lines.append("")
    lines.append("| " + " | ".join(cell(h) for h in table.header) + " |")
    lines.append("|" + "|".join(":--" if i < 4 or h == "protocol" else "--:" for i, h in enumerate(table.header)) + "|")
    for cells, is_best, is_floor in zip(table.rows, table.best, table.floor, strict=True):
        shown = [cell(c) for c in cells]
        if is_best:
            shown[0] = f"★ **{shown[0]}**"
        if is_floor:
            shown[0] = f"_{shown[0]}_"
        lines.append("| " + " | ".join(shown) + " |")
    lines += ["", f"★ best run of its dataset. {MISSING} = not measured. Wall time = training time (resumed "
              f"segments added up); img/s = steps × batch size / training seconds.{floor_note(content.floors)}", "",
              "## Metric protocols", ""]
    for i, (text, notes) in enumerate(zip(table.protocols, table.warnings, strict=True), 1):
        lines.append(f"- **P{i}**: {text}")
        lines += [f"  - ⚠ {note}" for note in notes]
    if not table.protocols:
        lines.append("- no metric measured")
    lines += ["", "Values are only comparable under the same protocol (same N, feature extractor and reference).",
              "", "## Final samples", ""]
    if content.grids:
        lines.append("| " + " | ".join(cell(p.title) for p in content.grids) + " |")
        lines.append("|" + "|".join(":-:" for _ in content.grids) + "|")
        lines.append("| " + " | ".join(f"![final samples of {cell(p.title)}]({link(folder, p.name)})"
                                       for p in content.grids) + " |")
        lines.append("| " + " | ".join(cell(p.caption) for p in content.grids) + " |")
    else:
        lines.append("No final sample grid.")
    for picture in content.figures:
        lines += ["", f"## {picture.title}", "", f"![{picture.title}]({link(folder, picture.name)})", "",
                  picture.caption]
    if content.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in content.notes]
    lines += ["", "## Runs", ""] + [f"- `{source}`" for source in content.sources]
    return "\n".join(lines) + "\n"
