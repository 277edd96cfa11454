"""The HTML report: one self-contained file (inline CSS, PNGs as base64 data URIs, no script, no links
to fetch), so it opens from disk, from a mail attachment or offline."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from ganforge.metrics.specs import MISSING
from ganforge.report.table import floor_note

if TYPE_CHECKING:
    from ganforge.report.build import ReportContent
    from ganforge.report.study import Section

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; margin: 24px auto;
       max-width: 1280px; padding: 0 16px; background: #fff; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #dde;
     padding-bottom: 4px; }
.meta { color: #667; font-size: 12px; }
.best-list li { margin: 2px 0; } .note { color: #8a5a00; }
.table-wrap { overflow-x: auto; }
table.runs, table.trials { border-collapse: collapse; font-size: 13px; white-space: nowrap; }
table.runs th, table.runs td, table.trials th, table.trials td { border-bottom: 1px solid #e3e6ee; padding: 5px 7px;
  text-align: right; }
table.runs th, table.trials th { background: #f3f5fa; position: sticky; top: 0; }
table.runs td.text, table.runs th.text, table.trials td.text, table.trials th.text { text-align: left; }
table.runs tr.best td { background: #e7f6ea; font-weight: 600; }
table.runs tr.floor td { background: #f6f7fa; font-style: italic; border-top: 2px solid #d5d9e4; }
table.runs td.missing { color: #99a; }
.star { color: #1f8a3b; }
ol.protocols li { margin: 3px 0; font-size: 13px; }
.gallery { display: flex; flex-wrap: wrap; gap: 16px; }
.gallery figure { margin: 0; border: 1px solid #e3e6ee; border-radius: 6px; padding: 8px; background: #fafbfd; }
.gallery figure.best { border-color: #1f8a3b; box-shadow: 0 0 0 2px #bfe5c8; }
.gallery img { display: block; width: 256px; height: auto; image-rendering: pixelated; }
figcaption { font-size: 12px; color: #445; max-width: 256px; margin-top: 6px; }
.figure img { max-width: 100%; height: auto; }
.sources { font-size: 12px; color: #667; }
ul.warnings { margin: 2px 0 6px; padding-left: 18px; list-style: none; color: #8a5a00; font-size: 12px; }
"""

TEXT_COLUMNS = {"run", "model", "dataset", "loss", "protocol"}


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def render_warnings(notes: list[str]) -> str:
    if not notes:
        return ""
    return '<ul class="warnings">' + "".join(f"<li>⚠ {escape(n)}</li>" for n in notes) + "</ul>"


def render_table(content: ReportContent) -> str:
    table = content.table
    head = "".join(f'<th class="{"text" if h in TEXT_COLUMNS else "num"}">{escape(h)}</th>' for h in table.header)
    rows = []
    for cells, best, floor in zip(table.rows, table.best, table.floor, strict=True):
        tds = []
        for header, cell in zip(table.header, cells, strict=True):
            classes = ["text" if header in TEXT_COLUMNS else "num"] + (["missing"] if cell == MISSING else [])
            text = escape(cell)
            if header == "run" and best:
                text = f'<span class="star" title="best run of its dataset">★</span> {text}'
            tds.append(f'<td class="{" ".join(classes)}">{text}</td>')
        kind = "floor" if floor else "run best" if best else "run"
        rows.append(f'<tr class="{kind}">{"".join(tds)}</tr>')
    return (f'<div class="table-wrap"><table class="runs"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def render_best(content: ReportContent) -> str:
    items = []
    for best in content.best:
        note = f' <span class="note">({escape(best.note)})</span>' if best.note else ""
        items.append(f"<li>Best on <b>{escape(best.dataset)}</b>: <b>{escape(best.run)}</b> — decided by "
                     f"{escape(best.reason)}{note}</li>")
    for dataset in content.unranked:
        items.append(f"<li>{escape(dataset)}: no metric measured, runs not ranked</li>")
    return f'<ul class="best-list">{"".join(items)}</ul>'


def render_section(section: Section) -> str:
    if not section.rows:
        table = "<p>None yet.</p>"
    else:
        head = "".join(f'<th class="text">{escape(h)}</th>' for h in section.header)
        body = "".join("<tr>" + "".join(f'<td class="text">{escape(c)}</td>' for c in row) + "</tr>"
                       for row in section.rows)
        table = (f'<div class="table-wrap"><table class="trials"><thead><tr>{head}</tr></thead>'
                 f"<tbody>{body}</tbody></table></div>")
    return f"<h2>{escape(section.title)}</h2><p>{escape(section.intro)}</p>{table}"


def render_html(content: ReportContent) -> str:
    winners = {name for b in content.best for name in b.starred}
    protocols = "".join(
        f"<li><b>P{i}</b>: {escape(text)}{render_warnings(notes)}</li>"
        for i, (text, notes) in enumerate(zip(content.table.protocols, content.table.warnings, strict=True), 1))
    grids = "".join(
        f'<figure class="{"best" if p.title in winners else ""}"><img src="{data_uri(p.path)}" '
        f'alt="final samples of {escape(p.title)}"><figcaption><b>{escape(p.title)}</b><br>{escape(p.caption)}'
        f"</figcaption></figure>" for p in content.grids)
    figures = "".join(
        f'<h2>{escape(p.title)}</h2><div class="figure"><img src="{data_uri(p.path)}" alt="{escape(p.title)}">'
        f"<p>{escape(p.caption)}</p></div>" for p in content.figures)
    notes = "".join(f'<li class="note">{escape(n)}</li>' for n in content.notes)
    description = f"<p>{escape(content.description)}</p>" if content.description else ""
    sources = "".join(f"<li>{escape(s)}</li>" for s in content.sources)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(content.title)}</title>
<style>{CSS}</style>
</head>
<body>
<h1>{escape(content.title)}</h1>
<p class="meta">Generated {escape(content.generated)}.</p>
{description}
{"".join(render_section(section) for section in content.sections)}
<h2>Results</h2>
{render_best(content)}
{render_table(content)}
<p class="meta">★ best run of its dataset. {MISSING} = not measured. Wall time = training time (resumed segments
added up); img/s = steps × batch size / training seconds.{escape(floor_note(content.floors))}</p>
<h2>Metric protocols</h2>
<ol class="protocols">{protocols or "<li>no metric measured</li>"}</ol>
<p class="meta">Values are only comparable under the same protocol (same N, feature extractor and reference).</p>
<h2>Final samples</h2>
<div class="gallery">{grids or "<p>No final sample grid.</p>"}</div>
{figures}
{f'<h2>Notes</h2><ul>{notes}</ul>' if notes else ''}
<h2>Runs</h2>
<ul class="sources">{sources}</ul>
</body>
</html>
"""
