"""``ganforge compare RUN_DIR... --out report.html``: one table, grids, curves and the best run per dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.commands import Subparsers
from ganforge.commands.options import add_threads_flag
from ganforge.report import build_report, summary_line
from ganforge.report.table import text_rows, text_table


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare runs (or a sweep folder) in one HTML or Markdown report",
        description="Compare finished runs: a table (model, dataset, loss, steps, wall time, images/s, IS, FID, "
                    "KID, precision, recall, density, coverage; toy2d runs: modes, high quality, reverse KL) "
                    "with the protocol of each metric, the best run of each dataset (lowest FID), final sample "
                    "grids side by side, loss curves overlaid and FID against step and wall time. .html gives "
                    "one self-contained file; .md links PNGs written to <name>_files/ next to it.",
    )
    parser.add_argument("inputs", type=Path, nargs="+", metavar="RUN_DIR",
                        help="run folders, or a sweep or tune study folder (all its runs; a study folder also "
                             "gets its best trials with mean ± s.e. over seeds, pruned trials and Optuna's plots)")
    parser.add_argument("--storage", default=None, metavar="URL",
                        help="the study database when study.json's URL hides its password")
    parser.add_argument("--out", type=Path, default=Path("report.html"),
                        help="report file, .html or .md (default report.html)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--quiet", action="store_true", help="do not print the table")
    add_threads_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    content = build_report(args.inputs, args.out, overwrite=args.overwrite, storage=args.storage)
    if not args.quiet:
        for section in content.sections:
            print(f"{section.title}:")
            print(text_rows(section.header, section.rows))
        print(text_table(content.table))
    print(f"wrote {args.out}: {summary_line(content)}")
    return 0
