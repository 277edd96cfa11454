"""Comparing runs the way papers do: one table with every metric and its protocol, the best run of each
dataset, final sample grids side by side, loss and FID curves; as one self-contained HTML file or Markdown.

``build_report([run_or_sweep_folder, ...], Path("report.html"))``. matplotlib is imported only when a
report is drawn, so the sweep runner can use the readers here cheaply.
"""

from __future__ import annotations

from ganforge.report.build import build_report, summary_line
from ganforge.report.collect import Collection, RunSummary, collect, summarize_run

__all__ = ["Collection", "RunSummary", "build_report", "collect", "summarize_run", "summary_line"]
